"""Running one message through one node: the only place a node function is called.

``execute`` applies the node's policy to a message: the message deadline, input
validation, attempts bounded by ``asyncio.timeout``, retries with the policy's backoff,
events, and output validation. It returns an outcome for the routing step: the node's
result, ``None`` (nothing to send) or a :class:`Failure` that ends the trace. Queued
workers and ``flow.call`` both run messages through it. With telemetry on (see
:mod:`penguiflow._hooks`), the run is inside a node span.

A controller loop's message (a ``WM``) whose deadline passes ends with a ``FinalAnswer``
saying so, as the documented controller contract has it; any other message whose
deadline passes ends its trace with ``FlowError(deadline_exceeded)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._hooks import HOOKS, RuntimeHooks
from .context import Context
from .errors import FlowError, FlowErrorCode, TraceCancelled, ValidationFailedError
from .signals import FlowSignal
from .types import WM, FinalAnswer, Message

if TYPE_CHECKING:
    from ._runner import NodeRunner

__all__ = [
    "DEADLINE_TEXT",
    "HOP_BUDGET_TEXT",
    "TOKEN_BUDGET_TEXT",
    "Failure",
    "execute",
    "failed_call",
    "final_answer",
]

logger = logging.getLogger("penguiflow.flow")

HOP_BUDGET_TEXT: Final = "Hop budget exhausted"
TOKEN_BUDGET_TEXT: Final = "Token budget exhausted"
DEADLINE_TEXT: Final = "Deadline exceeded"


@dataclass(frozen=True, slots=True)
class Failure:
    """The outcome of a message that ends its trace: ``fetch`` raises ``error``."""

    error: BaseException


def execute(runner: NodeRunner, key: str | None, item: Any) -> Coroutine[Any, Any, Any]:
    """Run ``item`` through ``runner``'s node under its policy; await it for the outcome.

    It returns the coroutine that does the work rather than being one: with telemetry
    off, a message in flight holds no extra frame (the memory-per-trace bound).

    Returns:
        A coroutine returning the node's result, ``None`` when there is nothing to send,
        or a ``Failure``.
    """
    hooks = HOOKS.runtime
    if hooks is None:
        return _execute(runner, key, item)
    return _traced(hooks, runner, key, item)


async def _traced(hooks: RuntimeHooks, runner: NodeRunner, key: str | None, item: Any) -> Any:
    trace = None if key is None else runner.engine.traces.get(key)
    with hooks.node(runner.name, key, None if trace is None else trace.context) as span:
        outcome = await _execute(runner, key, item)
        span.ended(outcome)
        return outcome


async def _execute(runner: NodeRunner, key: str | None, item: Any) -> Any:
    deadline = item.deadline_s if isinstance(item, Message) else None
    if deadline is not None or runner.validate_in:
        item, ended = await _admit(runner, key, item, deadline)
        if ended is not None:
            return ended
    engine = runner.engine
    ctx = Context(runner, key, item)
    attempt = 0
    limit, by_deadline = runner.policy.timeout_s, False
    while True:
        if deadline is not None:
            limit, by_deadline = _limit(runner.policy.timeout_s, deadline)
        started = 0.0  # for the latency of events
        if engine.observed:
            await engine.event("node_start", runner, key, attempt=attempt)
            started = time.perf_counter()
        scope: asyncio.Timeout | None = None
        try:
            if limit is None:
                result = await runner.func(item, ctx)
            else:
                async with asyncio.timeout(limit) as scope:
                    result = await runner.func(item, ctx)
        except FlowSignal as signal:
            return Failure(signal)
        except asyncio.CancelledError:
            await _interrupted(runner, key, attempt)
            raise
        except Exception as exc:
            timed_out = scope is not None and scope.expired()
            if timed_out and by_deadline:
                return await _deadline_passed(runner, key, item, attempt, _ms_since(started))
            failure = await _attempt_failed(runner, key, attempt, exc, timed_out, started)
            if failure is None:
                attempt += 1
                failure = await _wait_to_retry(runner, key, item, attempt, deadline)
            if failure is not None:
                return failure
        else:
            if engine.observed or runner.validate_out:
                return await _succeeded(runner, key, attempt, started, result)
            return result


async def _admit(
    runner: NodeRunner, key: str | None, item: Any, deadline: float | None
) -> tuple[Any, Any]:
    """Check ``item`` before it runs: ``(item, None)``, or ``(None, outcome)`` if it ends.

    A message past its deadline is skipped; the input is validated (and parsed).
    """
    if deadline is not None and time.time() >= deadline:
        await runner.engine.event("deadline_skip", runner, key)
        return None, _deadline_outcome(runner, key, item)
    if runner.validate_in:
        try:
            return runner.validated(item, "input"), None
        except ValidationFailedError as exc:
            return None, await _failed(runner, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
    return item, None


async def _succeeded(
    runner: NodeRunner, key: str | None, attempt: int, started: float, result: Any
) -> Any:
    """Report a successful attempt and validate its result."""
    engine = runner.engine
    if engine.observed:
        latency = _ms_since(started)
        await engine.event("node_success", runner, key, attempt=attempt, latency_ms=latency)
    if runner.validate_out and result is not None:
        try:
            return runner.validated(result, "output")
        except ValidationFailedError as exc:
            return await _failed(runner, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
    return result


async def _wait_to_retry(
    runner: NodeRunner, key: str | None, item: Any, attempt: int, deadline: float | None
) -> Any:
    """Wait out the backoff before ``attempt``; the outcome if the deadline comes first."""
    delay = runner.policy.backoff_for(attempt)
    engine = runner.engine
    if engine.observed:
        extra = {"backoff_s": delay}
        await engine.event("node_retry", runner, key, attempt=attempt, extra=extra)
    if deadline is not None and time.time() + delay >= deadline:
        return await _deadline_passed(runner, key, item, attempt, None)
    if delay > 0:
        await asyncio.sleep(delay)
    return None


def _limit(timeout_s: float | None, deadline: float) -> tuple[float, bool]:
    """The time one attempt may take, and whether the message deadline is what sets it."""
    remaining = max(deadline - time.time(), 0.0)
    if timeout_s is None or remaining < timeout_s:
        return remaining, True
    return timeout_s, False


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _attempt_failed(
    runner: NodeRunner,
    key: str | None,
    attempt: int,
    exc: Exception,
    timed_out: bool,
    started: float,
) -> Failure | None:
    """Report a failed attempt; return the trace's ``Failure`` when no retry is left."""
    engine = runner.engine
    hooks = HOOKS.runtime
    if hooks is not None:
        hooks.attempt_failed(attempt, type(exc).__name__, timed_out)
    if engine.observed:
        if timed_out:
            error = f"timed out after {runner.policy.timeout_s}s"
        else:
            error = f"{type(exc).__name__}: {exc}"
        kind = "node_timeout" if timed_out else "node_error"
        await engine.event(
            kind, runner, key, attempt=attempt, latency_ms=_ms_since(started), error=error
        )
    if attempt < runner.policy.max_retries:
        return None
    code = FlowErrorCode.NODE_TIMEOUT if timed_out else FlowErrorCode.NODE_EXCEPTION
    return await _failed(runner, key, code, exc, attempt + 1)


def failed_call(runner: NodeRunner, key: str | None, exc: BaseException) -> Failure:
    """The ``Failure`` of a single call of a node (no retry, nobody observing) that raised.

    For the workers' shortcut around :func:`execute` (see ``NodeRunner._work``).
    """
    if isinstance(exc, FlowSignal):
        return Failure(exc)
    return Failure(_flow_error(runner, key, FlowErrorCode.NODE_EXCEPTION, exc, 1))


def _flow_error(
    runner: NodeRunner, key: str | None, code: FlowErrorCode, exc: BaseException, attempts: int
) -> FlowError:
    error = FlowError(
        code,
        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        node_name=runner.name,
        trace_id=key,
        attempts=attempts,
        metadata={"exception_type": type(exc).__name__},
        node_id=runner.node.node_id,
        original_exc=exc,
    )
    error.__cause__ = exc
    logger.warning("node failed: %s", error, extra={"trace_id": key, "node": runner.name})
    return error


async def _failed(
    runner: NodeRunner, key: str | None, code: FlowErrorCode, exc: BaseException, attempts: int
) -> Failure:
    """The ``Failure`` of a node that failed for good, reported as ``node_failed``."""
    error = _flow_error(runner, key, code, exc, attempts)
    await runner.engine.event(
        "node_failed",
        runner,
        key,
        attempt=attempts - 1,
        error=str(error),
        extra={"code": code.value, "flow_error": error.to_payload()},
    )
    return Failure(error)


async def _interrupted(runner: NodeRunner, key: str | None, attempt: int) -> None:
    """Report a running attempt stopped by its trace's cancel (``node_trace_cancelled``)."""
    engine = runner.engine
    trace = engine.traces.get(key) if engine.observed and key is not None else None
    if trace is not None and isinstance(trace.outcome, TraceCancelled):
        await engine.event("node_trace_cancelled", runner, key, attempt=attempt)


async def _deadline_passed(
    runner: NodeRunner, key: str | None, item: Any, attempt: int, latency_ms: float | None
) -> Any:
    """The outcome of a message whose deadline passed while it ran or waited to retry."""
    await runner.engine.event(
        "node_timeout",
        runner,
        key,
        attempt=attempt,
        latency_ms=latency_ms,
        error="message deadline reached",
        extra={"deadline": True},
    )
    return _deadline_outcome(runner, key, item)


def _deadline_outcome(runner: NodeRunner, key: str | None, item: Any) -> Any:
    """A controller loop's ``FinalAnswer("Deadline exceeded")``, else the trace's failure."""
    if isinstance(item, Message) and isinstance(item.payload, WM):
        return final_answer(item, DEADLINE_TEXT)
    return Failure(
        FlowError(
            FlowErrorCode.DEADLINE_EXCEEDED,
            "the message deadline (deadline_s) passed",
            node_name=runner.name,
            trace_id=key,
            node_id=runner.node.node_id,
        )
    )


def final_answer(message: Any, text: str) -> Any:
    """``message`` (an envelope, or a bare payload) with a ``FinalAnswer(text)`` payload."""
    answer = FinalAnswer(text=text)
    return (
        message.model_copy(update={"payload": answer}) if isinstance(message, Message) else answer
    )
