"""Loading tiktoken encodings without network access when a local copy exists.

tiktoken downloads an encoding's BPE file on first use and caches it in
``TIKTOKEN_CACHE_DIR`` (or ``DATA_GYM_CACHE_DIR``, or ``<tmp>/data-gym-cache``). The
cache file is named by the SHA-1 of the download URL. LiteLLM, a PenguiFlow dependency,
ships such cache files for ``cl100k_base``, ``o200k_base`` and ``p50k_base``. Lookup order:

1. tiktoken's own cache (the directories above): load normally.
2. LiteLLM's bundled copy: load with ``TIKTOKEN_CACHE_DIR`` pointing at it for the
   duration of the load (under a lock; the previous value is restored).
3. A download by tiktoken, unless ``PENGUIFLOW_TOKENIZER_OFFLINE=1``.

Loaded encodings, and failures, are cached for the life of the process. ``None`` means
the encoding is not available here; the caller then uses the next encoding or the
estimator. tiktoken's download has no time limit: on a network that drops connections
instead of refusing them, set ``PENGUIFLOW_TOKENIZER_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["OFFLINE_ENV", "load_encoding", "model_encoding_name"]

OFFLINE_ENV = "PENGUIFLOW_TOKENIZER_OFFLINE"
_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings/"
_FILES = {
    "o200k_base": "o200k_base.tiktoken",
    "o200k_harmony": "o200k_base.tiktoken",
    "cl100k_base": "cl100k_base.tiktoken",
    "p50k_base": "p50k_base.tiktoken",
    "p50k_edit": "p50k_base.tiktoken",
    "r50k_base": "r50k_base.tiktoken",
}
_log = logging.getLogger("penguiflow.memory")
_lock = threading.Lock()
_loaded: dict[str, tiktoken.Encoding | None] = {}


def _cache_name(encoding: str) -> str | None:
    file = _FILES.get(encoding)
    if file is None:
        return None
    return hashlib.sha1((_BASE_URL + file).encode()).hexdigest()


def _tiktoken_cache_dir() -> Path | None:
    for env in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if env in os.environ:
            value = os.environ[env]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _bundled_dirs() -> list[Path]:
    dirs: list[Path] = []
    spec = importlib.util.find_spec("litellm")  # locates the package, does not import it
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            dirs.append(Path(location) / "litellm_core_utils" / "tokenizers")
    return dirs


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def _load_from(directory: Path | None, name: str) -> tiktoken.Encoding | None:
    import tiktoken

    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    if directory is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    try:
        return tiktoken.get_encoding(name)
    finally:
        if directory is not None:
            if saved is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


def _load(name: str, *, allow_download: bool) -> tiktoken.Encoding | None:
    cache_name = _cache_name(name)
    if cache_name is None:
        return None
    own = _tiktoken_cache_dir()
    if own is not None and (own / cache_name).is_file():
        try:
            return _load_from(None, name)
        except Exception as exc:  # a damaged cache file: try the other sources
            _log.warning("tiktoken cache for %s unusable: %s", name, exc)
    for directory in _bundled_dirs():
        if (directory / cache_name).is_file():
            try:
                return _load_from(directory, name)
            except Exception as exc:
                _log.warning("bundled encoding %s unusable: %s", name, exc)
    if allow_download and not _offline():
        try:
            return _load_from(None, name)
        except Exception as exc:
            _log.warning("could not download tiktoken encoding %s: %s", name, exc)
    return None


def load_encoding(name: str, *, allow_download: bool = True) -> tiktoken.Encoding | None:
    """Return the tiktoken encoding ``name``, or ``None`` if it cannot be loaded here.

    Blocks while the file is read (and downloaded, when allowed); call it from a thread
    inside async code (``TokenCounter.warm`` does).

    Args:
        name: an encoding name such as ``"o200k_base"``.
        allow_download: let tiktoken fetch the file when no local copy exists.

    Returns:
        The encoding, or ``None``.
    """
    with _lock:
        if name in _loaded:  # a failed download is not retried in this process
            return _loaded[name]
        encoding = _load(name, allow_download=allow_download)
        _loaded[name] = encoding
        return encoding


def model_encoding_name(model: str | None) -> str | None:
    """Return tiktoken's encoding name for ``model``, or ``None`` when it is unknown.

    Provider prefixes (``"openai/gpt-4o"``, ``"azure/gpt-4o"``) are stripped first.

    Args:
        model: a model name or LiteLLM model string.

    Returns:
        The encoding name (``"o200k_base"`` for ``gpt-4o``), or ``None``.
    """
    if not model:
        return None
    from tiktoken.model import encoding_name_for_model

    candidates = [model, model.rsplit("/", 1)[-1]]
    for candidate in candidates:
        try:
            return encoding_name_for_model(candidate)
        except KeyError:
            continue
    return None
