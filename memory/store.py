"""Where memory is persisted: the ``MemoryStore`` protocol and an in-memory store.

``SqlSessionStore`` (``penguiflow.sessions``) implements the protocol for real
deployments; :class:`InMemoryMemoryStore` keeps states in the process, for tests and
single-process use.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Protocol, runtime_checkable

from .errors import MemoryConflictError
from .keys import MemoryKey

__all__ = ["InMemoryMemoryStore", "MemoryStore", "is_conflict"]


@runtime_checkable
class MemoryStore(Protocol):
    """Persists one JSON state per memory key, with optimistic versioning.

    Versions start at 0 for "nothing stored"; each successful save returns the new
    version. Implementations must keep keys apart: a key never reads another key's
    state.
    """

    async def load_memory(self, key: MemoryKey) -> tuple[dict[str, Any] | None, int]:
        """Return ``(state, version)``; ``(None, 0)`` when nothing is stored for ``key``."""
        ...

    async def save_memory(
        self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
    ) -> int:
        """Store ``state`` if the stored version is ``expected_version``; return the new one.

        Raises:
            MemoryConflictError: the stored version differs (another writer saved first).
        """
        ...


def is_conflict(error: BaseException) -> bool:
    """Tell whether a store error is a version conflict (reload, merge and retry).

    Recognises :class:`MemoryConflictError` and the session store's
    ``StaleVersionError``.

    Args:
        error: the exception raised by ``save_memory``.

    Returns:
        ``True`` for a version conflict.
    """
    if isinstance(error, MemoryConflictError):
        return True
    # The SQL store raises its own StaleVersionError; it is loaded only if that store is.
    sessions_errors = sys.modules.get("penguiflow.sessions.errors")
    stale = getattr(sessions_errors, "StaleVersionError", None)
    return isinstance(stale, type) and isinstance(error, stale)


class InMemoryMemoryStore:
    """A ``MemoryStore`` kept in process memory (states are copied as JSON).

    Memory survives a new ``ShortTermMemory`` object using the same store, but not the
    end of the process.
    """

    def __init__(self) -> None:
        self._records: dict[MemoryKey, tuple[str, int]] = {}
        self._lock = asyncio.Lock()
        self.saves = 0
        self.conflicts = 0

    async def load_memory(self, key: MemoryKey) -> tuple[dict[str, Any] | None, int]:
        """Return the stored state of ``key`` and its version (``(None, 0)`` if none).

        Args:
            key: the memory key.

        Returns:
            ``(state, version)``.
        """
        async with self._lock:
            record = self._records.get(key)
        if record is None:
            return None, 0
        data, version = record
        state: dict[str, Any] = json.loads(data)
        return state, version

    async def save_memory(
        self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
    ) -> int:
        """Store ``state`` for ``key`` if the version matches.

        Args:
            key: the memory key.
            state: a JSON-friendly state.
            expected_version: the version the writer loaded.

        Returns:
            The new version.

        Raises:
            MemoryConflictError: another writer saved first.
        """
        data = json.dumps(state, allow_nan=False)
        async with self._lock:
            current = self._records.get(key, ("", 0))[1]
            if current != expected_version:
                self.conflicts += 1
                raise MemoryConflictError(
                    key=str(key), expected_version=expected_version, actual_version=current
                )
            self._records[key] = (data, current + 1)
            self.saves += 1
            return current + 1

    def keys(self) -> list[MemoryKey]:
        """Return the keys with a stored state."""
        return list(self._records)
