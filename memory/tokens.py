"""Token counting with tiktoken, plus a deterministic estimator when no encoding loads.

Encoding choice: the model's own encoding when tiktoken knows the model (``gpt-4o`` ->
``o200k_base``, ``gpt-4`` -> ``cl100k_base``); otherwise ``o200k_base``, then
``cl100k_base``. Counts for non-OpenAI models are therefore approximations.

Runs of 512 or more non-space characters (base64 blobs, long URLs) are counted in
pieces of 256 characters. tiktoken's cost grows with the square of such a run's length;
the pieces keep counting linear, and may over-count by about one token per piece.

If no encoding can be loaded (no local copy and no network), counting falls back to
:func:`estimate_tokens`: one token per three bytes of UTF-8, rounded up. It over-counts
English by about a third, which keeps budgets on the safe side. ``TokenCounter.exact``
tells which one is in use.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._encodings import load_encoding, model_encoding_name

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "DEFAULT_ENCODINGS",
    "ESTIMATOR_NAME",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "TokenCounter",
    "estimate_tokens",
    "get_token_counter",
]

DEFAULT_ENCODINGS: tuple[str, ...] = ("o200k_base", "cl100k_base")
"""Encodings tried, in order, when the model's encoding is unknown or unavailable."""

ESTIMATOR_NAME = "estimate-3-bytes"
"""``TokenCounter.encoding_name`` when the byte estimator is in use."""

_BYTES_PER_TOKEN = 3
_LONG_RUN = re.compile(r"\S{512,}")
_PIECE = 256

MESSAGE_OVERHEAD = 3
"""Tokens of framing per chat message (OpenAI's chat format); a ``name`` adds one more."""

REPLY_PRIMING = 3
"""Tokens that prime the assistant's reply, once per request."""


def estimate_tokens(text: str) -> int:
    """Estimate tokens without a tokenizer: ``ceil(utf8_bytes / 3)``.

    Args:
        text: the text.

    Returns:
        The estimate (0 for the empty string).
    """
    return math.ceil(len(text.encode("utf-8")) / _BYTES_PER_TOKEN)


def _pieces(text: str) -> list[str]:
    """Split ``text`` so that no piece holds a non-space run longer than ``_PIECE``."""
    if len(text) < 512:
        return [text]
    pieces: list[str] = []
    position = 0
    for match in _LONG_RUN.finditer(text):
        if match.start() > position:
            pieces.append(text[position : match.start()])
        run = match.group()
        pieces.extend(run[i : i + _PIECE] for i in range(0, len(run), _PIECE))
        position = match.end()
    if position < len(text):
        pieces.append(text[position:])
    return pieces


def _estimate_truncate(text: str, max_tokens: int) -> str:
    data = text.encode("utf-8")[: max_tokens * _BYTES_PER_TOKEN]
    return data.decode("utf-8", errors="ignore")


class TokenCounter:
    """Counts tokens of text and chat messages for one model.

    The encoding loads on first use (a file read, about a tenth of a second); inside
    async code call ``await counter.warm()`` first so the event loop is not blocked.

    Args:
        model: model name or LiteLLM model string used to pick the encoding.
        encoding: an encoding name that overrides the model's.
        allow_download: let tiktoken download a missing encoding file (also disabled by
            ``PENGUIFLOW_TOKENIZER_OFFLINE=1``).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        encoding: str | None = None,
        allow_download: bool = True,
    ) -> None:
        self.model = model
        self._wanted = encoding
        self._allow_download = allow_download
        self._encoding: tiktoken.Encoding | None = None
        self._resolved = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = self.encoding_name if self._resolved else "not loaded"
        return f"TokenCounter(model={self.model!r}, encoding={state!r})"

    def _candidates(self) -> list[str]:
        names: list[str] = []
        for name in (self._wanted, model_encoding_name(self.model), *DEFAULT_ENCODINGS):
            if name and name not in names:
                names.append(name)
        return names

    def _resolve(self) -> tiktoken.Encoding | None:
        if self._resolved:
            return self._encoding
        with self._lock:
            if not self._resolved:
                for name in self._candidates():
                    encoding = load_encoding(name, allow_download=self._allow_download)
                    if encoding is not None:
                        self._encoding = encoding
                        break
                self._resolved = True
        return self._encoding

    async def warm(self) -> None:
        """Load the encoding in a worker thread so later counts do not block."""
        if not self._resolved:
            await asyncio.to_thread(self._resolve)

    @property
    def encoding_name(self) -> str:
        """The encoding in use (``ESTIMATOR_NAME`` when no encoding could be loaded)."""
        encoding = self._resolve()
        return encoding.name if encoding is not None else ESTIMATOR_NAME

    @property
    def exact(self) -> bool:
        """``True`` when a tiktoken encoding is used, ``False`` for the estimator."""
        return self._resolve() is not None

    def count(self, text: str) -> int:
        """Count the tokens of ``text`` (special-token strings count as plain text).

        Args:
            text: the text.

        Returns:
            The number of tokens.
        """
        if not text:
            return 0
        encoding = self._resolve()
        if encoding is None:
            return estimate_tokens(text)
        return sum(len(encoding.encode(p, disallowed_special=())) for p in _pieces(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """Cut ``text`` so that it counts at most ``max_tokens`` tokens.

        Args:
            text: the text.
            max_tokens: the limit (``<= 0`` gives the empty string).

        Returns:
            The longest prefix found that fits.
        """
        if max_tokens <= 0:
            return ""
        encoding = self._resolve()
        if encoding is None:
            return _estimate_truncate(text, max_tokens)
        kept: list[str] = []
        room = max_tokens
        for piece in _pieces(text):
            tokens = encoding.encode(piece, disallowed_special=())
            if len(tokens) <= room:
                kept.append(piece)
                room -= len(tokens)
                continue
            cut = encoding.decode_bytes(tokens[:room]).decode("utf-8", errors="ignore")
            kept.append(cut if text.startswith("".join(kept) + cut) else "")
            break
        result = "".join(kept)
        # Re-joined pieces may tokenise differently; shrink until the count fits.
        while result and self.count(result) > max_tokens:
            overshoot = self.count(result) - max_tokens
            shorter = result[: max(0, len(result) - max(1, overshoot))]
            result = shorter
        return result

    def count_json(self, value: Any) -> int:
        """Count the tokens of ``value`` written as compact JSON.

        Args:
            value: a JSON-friendly value (other objects are written with ``str``).

        Returns:
            The number of tokens.
        """
        return self.count(json.dumps(value, separators=(",", ":"), default=str))

    def count_message(self, message: Mapping[str, Any]) -> int:
        """Count one chat message, framing included (see :meth:`count_messages`).

        Args:
            message: a ``{"role": ..., "content": ...}`` mapping.

        Returns:
            The message's tokens; a request costs the sum over its messages plus
            :data:`REPLY_PRIMING`.
        """
        total = MESSAGE_OVERHEAD
        for field, value in message.items():
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            total += self.count(text)
            if field == "name":
                total += 1
        return total

    def count_messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        """Count chat messages the way OpenAI chat models bill them (approximately).

        Each message costs its content and role plus 3 tokens of framing (a ``name``
        adds its tokens and one more), and 3 tokens prime the reply. Non-string content
        is counted as its JSON text.

        Args:
            messages: ``{"role": ..., "content": ...}`` mappings.

        Returns:
            The estimated prompt tokens.
        """
        return REPLY_PRIMING + sum(self.count_message(message) for message in messages)


@functools.lru_cache(maxsize=64)
def get_token_counter(model: str | None = None) -> TokenCounter:
    """Return a shared ``TokenCounter`` for ``model`` (one per model name).

    Args:
        model: model name or LiteLLM model string (``None`` for the default encoding).

    Returns:
        The counter.
    """
    return TokenCounter(model)
