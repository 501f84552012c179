"""The PenguiFlow error tree.

Every error PenguiFlow raises on purpose derives from :class:`PenguiFlowError`::

    PenguiFlowError
    ├── UsageError                 the API was called wrongly; fix the calling code
    │   ├── ConfigError            (also ValueError) a bad argument or setting
    │   ├── NodeSignatureError     (also TypeError, ValueError) a node function with the
    │   │   │                      wrong shape
    │   │   └── ToolSignatureError a tool function whose signature cannot become a schema
    │   ├── CycleError             (also ValueError, RuntimeError) a cycle without
    │   │                          ``allow_cycles=True``
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
from collections.abc import Mapping
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


class NodeSignatureError(UsageError, TypeError, ValueError):
    """A node function is not ``async def fn(message, ctx)``.

    Both a ``TypeError`` (a plain function where a coroutine function is needed) and a
    ``ValueError`` (the wrong parameters), as the documented API raises either.
    """


class ToolSignatureError(NodeSignatureError):
    """A tool function's parameters or return type cannot become the tool's JSON schema."""


class CycleError(UsageError, ValueError, RuntimeError):
    """The graph has a cycle and ``allow_cycles=True`` was not given."""


class UnknownTargetError(UsageError, ValueError):
    """A message was emitted to a node that is not reachable from the emitter."""


class FlowStateError(UsageError, RuntimeError):
    """The flow is not in a state that allows the call (not running, or stopped)."""


class FlowErrorCode(enum.StrEnum):
    """Why a trace failed; carried by :class:`FlowError`.

    Looking a code up by value accepts any case, so ``FlowErrorCode("NODE_TIMEOUT")``
    (the documented spelling) is ``FlowErrorCode.NODE_TIMEOUT``.
    """

    NODE_TIMEOUT = "node_timeout"
    NODE_EXCEPTION = "node_exception"
    TRACE_CANCELLED = "trace_cancelled"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    HOP_BUDGET_EXHAUSTED = "hop_budget_exhausted"
    TOKEN_BUDGET_EXHAUSTED = "token_budget_exhausted"
    VALIDATION_FAILED = "validation_failed"
    SUBFLOW_FAILED = "subflow_failed"
    NO_RESULT = "no_result"

    @classmethod
    def _missing_(cls, value: object) -> FlowErrorCode | None:
        if isinstance(value, str):
            return cls._value2member_map_.get(value.lower())  # type: ignore[return-value]
        return None


def _code(code: FlowErrorCode | str) -> FlowErrorCode:
    try:
        return FlowErrorCode(code)
    except ValueError:
        known = ", ".join(member.value for member in FlowErrorCode)
        raise ConfigError(f"FlowError(code=...) must be one of {known}; got {code!r}") from None


class FlowError(RunError):
    """A trace ended in failure; delivered to whoever fetches that trace.

    Build one with keywords, as documented (``FlowError(trace_id=..., node_name=...,
    code=..., message=...)``), or with the code and message first.

    Attributes:
        code: the kind of failure.
        node_name: the node that failed, when one did.
        trace_id: the trace that failed (``None`` for payload-only messages).
        message: a human-readable explanation.
        attempts: how many attempts the node made.
        metadata: extra JSON-friendly details (budgets, original exception type).
        node_id: the unique id of the node that failed, when one did.
        original_exc: the exception the node raised, if any (not kept when pickled).
        exception_type: the class name of that exception, if any.
    """

    def __init__(
        self,
        code: FlowErrorCode | str,
        message: str,
        *,
        node_name: str | None = None,
        trace_id: str | None = None,
        attempts: int = 0,
        metadata: Mapping[str, Any] | None = None,
        node_id: str | None = None,
        original_exc: BaseException | None = None,
        exception_type: str | None = None,
    ) -> None:
        self.code = _code(code)
        self.message = message
        self.node_name = node_name
        self.trace_id = trace_id
        self.attempts = attempts
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.node_id = node_id
        self.original_exc = original_exc
        if exception_type is None and original_exc is not None:
            exception_type = type(original_exc).__name__
        self.exception_type = exception_type
        super().__init__(self.__str__())

    @classmethod
    def from_exception(
        cls,
        *,
        trace_id: str | None,
        node_name: str | None,
        node_id: str | None = None,
        exc: BaseException,
        code: FlowErrorCode | str,
        message: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> FlowError:
        """Wrap ``exc``, the reason a node failed, in a ``FlowError``.

        Args:
            trace_id: the trace that failed.
            node_name: the node that failed.
            node_id: that node's unique id.
            exc: the exception; kept as ``original_exc`` and as ``__cause__``.
            code: the kind of failure.
            message: the explanation; default ``str(exc)``, or its class name.
            metadata: extra JSON-friendly details.

        Raises:
            ConfigError: ``code`` is not a :class:`FlowErrorCode`.
        """
        error = cls(
            code,
            message or str(exc) or type(exc).__name__,
            node_name=node_name,
            trace_id=trace_id,
            metadata=metadata,
            node_id=node_id,
            original_exc=exc,
        )
        error.__cause__ = exc
        return error

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
                self.node_id,
                self.exception_type,
            ),
        )

    def unwrap(self) -> BaseException | None:
        """Return the exception the node raised (``None`` if there was none)."""
        return self.original_exc

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the failure, every field included."""
        return {
            "code": self.code.value,
            "message": self.message,
            "node_name": self.node_name,
            "trace_id": self.trace_id,
            "attempts": self.attempts,
            "metadata": self.metadata,
        }

    def to_payload(self) -> dict[str, Any]:
        """Return the documented JSON-friendly form: the fields that are set.

        ``code`` and ``message`` always; ``trace_id``, ``node_name``, ``node_id``,
        ``exception_type`` and ``metadata`` when they have a value.
        """
        payload: dict[str, Any] = {"code": self.code.value, "message": self.message}
        optional = {
            "trace_id": self.trace_id,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "exception_type": self.exception_type,
        }
        payload.update((key, value) for key, value in optional.items() if value is not None)
        if self.metadata:
            payload["metadata"] = dict(self.metadata)
        return payload


def _rebuild_flow_error(
    code: str,
    message: str,
    node_name: str | None,
    trace_id: str | None,
    attempts: int,
    metadata: dict[str, Any],
    node_id: str | None = None,
    exception_type: str | None = None,
) -> FlowError:
    return FlowError(
        FlowErrorCode(code),
        message,
        node_name=node_name,
        trace_id=trace_id,
        attempts=attempts,
        metadata=metadata,
        node_id=node_id,
        exception_type=exception_type,
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
