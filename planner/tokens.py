"""Token accounting for everything the planner sends to the LLM.

Counts use tiktoken with the model's encoding when tiktoken knows the model, and
``cl100k_base`` otherwise (a close approximation for most chat models).

PenguiFlow never downloads tokenizer files at run time. An encoding is loaded from, in
order: tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or the
default cache folder), then the copy of the OpenAI encodings bundled with the
``litellm`` package (a PenguiFlow dependency; found without importing litellm). When
neither has the file, counts fall back to a documented deterministic estimate: one
token per 4 bytes of UTF-8 text, rounded up, which :attr:`TokenCounter.exact` reports.

Chat messages add :data:`MESSAGE_OVERHEAD` tokens each plus :data:`REPLY_OVERHEAD` per
request, following OpenAI's published accounting for chat formats.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "BYTES_PER_TOKEN_ESTIMATE",
    "MESSAGE_OVERHEAD",
    "REPLY_OVERHEAD",
    "TokenCounter",
    "encoding_name_for",
]

MESSAGE_OVERHEAD = 4
"""Tokens added per chat message (role and separators)."""

REPLY_OVERHEAD = 3
"""Tokens added per request (the primed assistant reply)."""

BYTES_PER_TOKEN_ESTIMATE = 4
"""UTF-8 bytes per token used by the fallback estimate."""

_DEFAULT_ENCODING = "cl100k_base"
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_ENV_LOCK = threading.Lock()


class _Encoder(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


def encoding_name_for(model: str | None) -> str:
    """Return the tiktoken encoding name for ``model`` (``cl100k_base`` when unknown).

    Provider prefixes such as ``openai/`` are ignored.
    """
    if not model:
        return _DEFAULT_ENCODING
    try:
        import tiktoken.model
    except ImportError:  # pragma: no cover - tiktoken is a dependency
        return _DEFAULT_ENCODING
    for candidate in (model, model.rsplit("/", 1)[-1]):
        try:
            return tiktoken.model.encoding_name_for_model(candidate)
        except KeyError:
            continue
    return _DEFAULT_ENCODING


def _cache_dirs() -> list[Path]:
    dirs: list[Path] = []
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        value = os.environ.get(var)
        if value:
            dirs.append(Path(value))
    dirs.append(Path(tempfile.gettempdir()) / "data-gym-cache")
    spec = importlib.util.find_spec("litellm")
    for location in (spec.submodule_search_locations or []) if spec else []:
        dirs.append(Path(location) / "litellm_core_utils" / "tokenizers")
    return dirs


@functools.lru_cache(maxsize=8)
def _load_encoding(name: str) -> _Encoder | None:
    """Load encoding ``name`` from a local file, or return ``None``; never downloads."""
    try:
        import tiktoken
    except ImportError:  # pragma: no cover - tiktoken is a dependency
        return None
    key = hashlib.sha1(_BLOB.format(name=name).encode()).hexdigest()
    for folder in _cache_dirs():
        if not (folder / key).is_file():
            continue
        with _ENV_LOCK:  # tiktoken reads its cache folder from the environment
            previous = os.environ.get("TIKTOKEN_CACHE_DIR")
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
            try:
                encoding: _Encoder = tiktoken.get_encoding(name)
                return encoding
            except Exception:  # a corrupt or foreign file: try the next folder
                continue
            finally:
                if previous is None:
                    os.environ.pop("TIKTOKEN_CACHE_DIR", None)
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous
    return None


class TokenCounter:
    """Counts tokens of text, JSON values and chat messages for one model.

    The encoding is loaded on first use and shared by every counter in the process.

    Args:
        model: the model name (any LiteLLM model string); ``None`` for the default
            encoding.
    """

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.encoding_name = encoding_name_for(model)
        self._encoder: _Encoder | None = None
        self._loaded = False

    def _get(self) -> _Encoder | None:
        if not self._loaded:
            self._encoder = _load_encoding(self.encoding_name)
            if self._encoder is None and self.encoding_name != _DEFAULT_ENCODING:
                self._encoder = _load_encoding(_DEFAULT_ENCODING)
            self._loaded = True
        return self._encoder

    @property
    def exact(self) -> bool:
        """Whether counts come from tiktoken (``False``: the 4-bytes-per-token estimate)."""
        return self._get() is not None

    def count_text(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        if not text:
            return 0
        encoder = self._get()
        if encoder is None:
            return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_ESTIMATE)
        return len(encoder.encode(text, disallowed_special=()))

    def count_json(self, value: Any) -> int:
        """Return the number of tokens of ``value`` serialised as compact JSON."""
        return self.count_text(json.dumps(value, separators=(",", ":"), default=str))

    def count_message(self, message: Mapping[str, Any]) -> int:
        """Return the tokens of one chat message, overhead included."""
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        return MESSAGE_OVERHEAD + self.count_text(text)

    def count_messages(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """Return the tokens of a chat request's messages, overheads included."""
        return REPLY_OVERHEAD + sum(self.count_message(m) for m in messages)
