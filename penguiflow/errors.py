"""The PenguiFlow error tree.

Every error PenguiFlow raises on purpose derives from :class:`PenguiFlowError`::

    PenguiFlowError
    ├── UsageError                 the API was called wrongly; fix the calling code
    │   ├── ConfigError            (also ValueError) a bad argument or setting
    │   ├── NodeSignatureError     (also TypeError) a node function with the wrong shape
    │   │   └── ToolSignatureError a tool function whose signature cannot become a schema
    │   ├── CycleError             (also ValueError) a cycle without ``allow_cycles=True``
    │   ├── UnknownTargetError     (also ValueError) emit to a node that is not a successor
    │   └── FlowStateError         (also RuntimeError) emit before run(), fetch after stop()
    └── RunError                   something failed while running; the code was fine
        ├── FlowError              a trace ended in failure (see FlowErrorCode)
        ├── TraceCancelled         the trace was cancelled before it produced a result
        ├── QueueFullError         (also asyncio.QueueFull) emit_nowait on a full queue
        └── ValidationFailedError  a payload did not match its registered model

Packages add their own subtrees under ``RunError`` or ``UsageError`` (planner, tools,
sessions, memory). ``asyncio.CancelledError`` is never wrapped.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

__all__ = [
    "ConfigError",
    "CycleError",
    "FlowError",
    "FlowErrorCode",
    "FlowStateError",
    "NodeSignatureError",
    "PenguiFlowError",
    "QueueFullError",
    "RunError",
    "ToolSignatureError",
    "TraceCancelled",
    "UnknownTargetError",
    "UsageError",
    "ValidationFailedError",
]


class PenguiFlowError(Exception):
    """Root of every error PenguiFlow raises on purpose."""


class UsageError(PenguiFlowError):
    """The API was used wrongly; the message says how to fix the call."""


class RunError(PenguiFlowError):
    """Something failed while running; the calling code itself was valid."""


class ConfigError(UsageError, ValueError):
    """A constructor argument or setting has a bad value."""


class NodeSignatureError(UsageError, TypeError):
    """A node function is not ``async def fn(message, ctx)``."""


class ToolSignatureError(NodeSignatureError):
    """A tool function's parameters or return type cannot become the tool's JSON schema."""


class CycleError(UsageError, ValueError):
    """The graph has a cycle and ``allow_cycles=True`` was not given."""


class UnknownTargetError(UsageError, ValueError):
    """A message was emitted to a node that is not reachable from the emitter."""


class FlowStateError(UsageError, RuntimeError):
    """The flow is not in a state that allows the call (not running, or stopped)."""


class FlowErrorCode(enum.StrEnum):
    """Why a trace failed; carried by :class:`FlowError`."""

    NODE_TIMEOUT = "node_timeout"
    NODE_EXCEPTION = "node_exception"
    TRACE_CANCELLED = "trace_cancelled"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    HOP_BUDGET_EXHAUSTED = "hop_budget_exhausted"
    TOKEN_BUDGET_EXHAUSTED = "token_budget_exhausted"
    VALIDATION_FAILED = "validation_failed"
    SUBFLOW_FAILED = "subflow_failed"
    NO_RESULT = "no_result"


class FlowError(RunError):
    """A trace ended in failure; delivered to whoever fetches that trace.

    Attributes:
        code: the kind of failure.
        node_name: the node that failed, when one did.
        trace_id: the trace that failed (``None`` for payload-only messages).
        message: a human-readable explanation.
        attempts: how many attempts the node made.
        metadata: extra JSON-friendly details (budgets, original exception type).
    """

    def __init__(
        self,
        code: FlowErrorCode,
        message: str,
        *,
        node_name: str | None = None,
        trace_id: str | None = None,
        attempts: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.code = FlowErrorCode(code)
        self.message = message
        self.node_name = node_name
        self.trace_id = trace_id
        self.attempts = attempts
        self.metadata: dict[str, Any] = dict(metadata or {})
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f" in node {self.node_name!r}" if self.node_name else ""
        trace = f" (trace {self.trace_id})" if self.trace_id else ""
        return f"{self.code.value}{where}{trace}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"FlowError(code={self.code.value!r}, node_name={self.node_name!r}, "
            f"trace_id={self.trace_id!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_flow_error,
            (
                self.code.value,
                self.message,
                self.node_name,
                self.trace_id,
                self.attempts,
                self.metadata,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the failure."""
        return {
            "code": self.code.value,
            "message": self.message,
            "node_name": self.node_name,
            "trace_id": self.trace_id,
            "attempts": self.attempts,
            "metadata": self.metadata,
        }


def _rebuild_flow_error(
    code: str,
    message: str,
    node_name: str | None,
    trace_id: str | None,
    attempts: int,
    metadata: dict[str, Any],
) -> FlowError:
    return FlowError(
        FlowErrorCode(code),
        message,
        node_name=node_name,
        trace_id=trace_id,
        attempts=attempts,
        metadata=metadata,
    )


class TraceCancelled(RunError):
    """The trace was cancelled (``flow.cancel(trace_id)``) before it finished."""

    def __init__(self, trace_id: str | None, reason: str = "cancelled") -> None:
        self.trace_id = trace_id
        self.reason = reason
        super().__init__(f"trace {trace_id} was cancelled: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (TraceCancelled, (self.trace_id, self.reason))


class QueueFullError(RunError, asyncio.QueueFull):
    """``emit_nowait`` found the target queue full; use ``await emit(...)`` to wait."""


class ValidationFailedError(RunError, ValueError):
    """A payload did not validate against the model registered for a node."""

    def __init__(self, node_name: str, direction: str, detail: str) -> None:
        self.node_name = node_name
        self.direction = direction
        self.detail = detail
        super().__init__(f"{direction} of node {node_name!r} failed validation: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ValidationFailedError, (self.node_name, self.direction, self.detail))
