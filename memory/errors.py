"""Errors raised by short-term memory.

Memory adds this subtree to :mod:`penguiflow.errors`::

    PenguiFlowError
    ├── UsageError
    │   ├── ConfigError
    │   │   └── MemoryConfigError     (also ValueError) a bad memory setting or key
    │   └── MemoryClosedError         (also RuntimeError) memory used after aclose()
    └── RunError
        └── MemoryRunError            base of the failures while memory is in use
            ├── MemoryBudgetError     overflow_policy="error" and the block is over budget
            ├── MemoryStoreError      the memory store failed or kept conflicting
            │   └── MemoryConflictError  optimistic version conflict; reload and retry
            ├── MemoryStateError      a stored memory state cannot be read back
            └── SummarizerError       the summariser LLM failed or answered badly

Every error keeps the fields a caller needs (key parts, versions, attempts), pickles with
them, and never carries message text from the conversation.
"""

from __future__ import annotations

from typing import Any

from penguiflow.errors import ConfigError, RunError, UsageError

__all__ = [
    "MemoryBudgetError",
    "MemoryClosedError",
    "MemoryConfigError",
    "MemoryConflictError",
    "MemoryRunError",
    "MemoryStateError",
    "MemoryStoreError",
    "SummarizerError",
]


def _rebuild(cls: type[Exception], message: str, fields: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    for name, value in fields.items():
        setattr(error, name, value)
    return error


class _Fields(Exception):
    """Stores keyword fields as attributes and pickles with them."""

    def _set(self, message: str, **fields: Any) -> None:
        self._field_values = fields
        for name, value in fields.items():
            setattr(self, name, value)
        Exception.__init__(self, message)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = getattr(self, "_field_values", {})
        return (_rebuild, (type(self), str(self), fields))


class MemoryConfigError(ConfigError):
    """A memory setting, budget or key has a bad value; the message names the fix."""


class MemoryClosedError(_Fields, UsageError, RuntimeError):
    """The memory was used after ``aclose()``; create a new ``ShortTermMemory``.

    Attributes:
        operation: the method that was called.
    """

    operation: str

    def __init__(self, *, operation: str) -> None:
        self._set(
            f"ShortTermMemory.{operation}() was called after aclose(); a closed memory "
            "cannot be reused: create a new ShortTermMemory (its state is in the store)",
            operation=operation,
        )


class MemoryRunError(_Fields, RunError):
    """Base of the failures that happen while memory is in use."""


class MemoryBudgetError(MemoryRunError):
    """``overflow_policy="error"`` and the memory block does not fit its token budget.

    Attributes:
        tokens: how many tokens the block would take.
        total_max_tokens: the budget.
    """

    tokens: int
    total_max_tokens: int

    def __init__(self, *, tokens: int, total_max_tokens: int) -> None:
        self._set(
            f"the memory block needs {tokens} tokens but MemoryBudget.total_max_tokens is "
            f"{total_max_tokens} and overflow_policy is 'error'; raise the budget or use "
            "overflow_policy='truncate_oldest' or 'truncate_summary'",
            tokens=tokens,
            total_max_tokens=total_max_tokens,
        )


class MemoryStoreError(MemoryRunError):
    """The memory store failed, or saves kept conflicting past the retry limit.

    Attributes:
        operation: ``load_memory`` or ``save_memory``.
        detail: what went wrong (error type and message, no conversation text).
    """

    operation: str
    detail: str

    def __init__(self, *, operation: str, detail: str) -> None:
        self._set(
            f"memory store operation {operation}() failed: {detail}",
            operation=operation,
            detail=detail,
        )


class MemoryConflictError(MemoryStoreError):
    """Someone saved this memory first: the stored version is not the expected one.

    Stores raise it from ``save_memory``; ``ShortTermMemory`` reloads, merges by turn id
    and saves again.

    Attributes:
        key: the memory key as ``tenant/user/session``.
        expected_version: the version the writer based its change on.
        actual_version: the version in the store.
    """

    key: str
    expected_version: int
    actual_version: int | None

    def __init__(self, *, key: str, expected_version: int, actual_version: int | None) -> None:
        self._set(
            f"memory {key!r} was saved by someone else: expected version "
            f"{expected_version}, found {actual_version}; reload it and apply the change again",
            operation="save_memory",
            detail="version conflict",
            key=key,
            expected_version=expected_version,
            actual_version=actual_version,
        )


class MemoryStateError(MemoryRunError):
    """A stored memory state cannot be read (damaged, or written by a newer PenguiFlow).

    Attributes:
        key: the memory key as ``tenant/user/session``.
        detail: why it could not be read.
    """

    key: str
    detail: str

    def __init__(self, *, key: str, detail: str) -> None:
        self._set(
            f"the stored memory of {key!r} cannot be read: {detail}; upgrade penguiflow if "
            "a newer version wrote it, or delete that memory record",
            key=key,
            detail=detail,
        )


class SummarizerError(MemoryRunError):
    """The summariser LLM failed or returned something that is not a summary.

    Attributes:
        attempts: how many attempts were made.
        detail: the last failure (error type and message).
    """

    attempts: int
    detail: str

    def __init__(self, *, attempts: int, detail: str) -> None:
        self._set(
            f"the memory summariser failed after {attempts} attempt(s): {detail}",
            attempts=attempts,
            detail=detail,
        )
