"""How traces end badly: failures, deadlines, signals and cancellation; and events.

Mixed into ``PenguiFlow``. Every ending goes through ``_terminate`` so that a trace gets
exactly one terminal outcome and its remaining work is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from ._rookery import Raise, Rookery
from ._runner import NodeRunner
from ._trace import TraceState
from ._typing import Middleware
from .bus import MessageBus
from .errors import FlowError, FlowErrorCode
from .events import FlowEvent
from .state import StateStore

__all__ = ["TraceEndings"]

logger = logging.getLogger("penguiflow.flow")


class TraceEndings:
    """Terminate traces and report events."""

    _runners: dict[str, NodeRunner]
    _traces: dict[str, TraceState]
    _rookery: Rookery
    _capacity_waiters: dict[str, deque[asyncio.Future[None]]]
    _middlewares: list[Middleware]
    _state_store: StateStore | None
    _bus: MessageBus | None
    _trace_capacity: int
    _stopping: bool
    _observed: bool
    _publishing: set[asyncio.Task[None]]

    async def _terminate(self, key: str | None, exc: BaseException, *, cancelled: bool) -> None:
        """End trace ``key`` with ``exc``: drop queued work, cancel running attempts."""
        if key is None:
            self._rookery.put_nowait(None, Raise(exc))
            return
        trace = self._traces.get(key)
        if trace is None:
            trace = self._traces[key] = TraceState(key, pending=0)
        if trace.terminated is not None:
            return
        trace.terminated = exc
        for runner in self._runners.values():
            trace.pending -= runner.floe.drop(key)
        current = asyncio.current_task()
        for task in trace.tasks():
            if task is not current:
                task.cancel(f"trace {key} ended: {type(exc).__name__}")
        if cancelled:
            self._rookery.discard(key)
            self._rookery.wake_all_scoped(key, exc)
        else:
            trace.delivered += 1
            self._rookery.put_nowait(key, Raise(exc))
        for runner in self._runners.values():
            try:
                runner.node.on_trace_end(key)
            except Exception:
                logger.exception("on_trace_end hook failed", extra={"node": runner.name})
        waiters = self._capacity_waiters.pop(key, None)
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)
        if trace.pending <= 0 and not trace.running:
            self._traces.pop(key, None)

    async def _fail(
        self,
        runner: NodeRunner,
        key: str | None,
        code: FlowErrorCode,
        exc: BaseException,
        attempts: int,
    ) -> None:
        error = FlowError(
            code,
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            node_name=runner.name,
            trace_id=key,
            attempts=attempts,
            metadata={"exception_type": type(exc).__name__},
        )
        error.__cause__ = exc
        logger.warning("node failed: %s", error, extra={"trace_id": key, "node": runner.name})
        await self._event(
            "node_failed",
            runner,
            key,
            attempt=attempts - 1,
            error=str(error),
            extra={"code": code.value},
        )
        await self._terminate(key, error, cancelled=False)

    async def _signal(self, runner: NodeRunner, key: str | None, signal: BaseException) -> None:
        await self._terminate(key, signal, cancelled=False)

    async def _deadline_skip(self, runner: NodeRunner, key: str | None) -> None:
        await self._event("deadline_skip", runner, key)
        await self._terminate(key, self._deadline_error(runner, key), cancelled=False)

    async def _deadline_exceeded(
        self, runner: NodeRunner, key: str | None, attempt: int, latency_ms: float | None
    ) -> None:
        await self._event(
            "node_timeout",
            runner,
            key,
            attempt=attempt,
            latency_ms=latency_ms,
            error="message deadline reached",
            extra={"deadline": True},
        )
        await self._terminate(key, self._deadline_error(runner, key), cancelled=False)

    @staticmethod
    def _deadline_error(runner: NodeRunner, key: str | None) -> FlowError:
        return FlowError(
            FlowErrorCode.DEADLINE_EXCEEDED,
            "the message deadline (deadline_s) passed",
            node_name=runner.name,
            trace_id=key,
        )

    async def _event(
        self,
        event_type: str,
        runner: NodeRunner | None,
        key: str | None,
        *,
        attempt: int = 0,
        latency_ms: float | None = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if not self._observed:
            return
        trace = self._traces.get(key) if key is not None else None
        event = FlowEvent(
            event_type=event_type,
            ts=time.time(),
            node_name=runner.name if runner else None,
            node_id=runner.node.node_id if runner else None,
            trace_id=key,
            attempt=attempt,
            latency_ms=latency_ms,
            queue_depth=runner.floe.qsize() if runner else 0,
            trace_pending=trace.pending if trace else 0,
            trace_inflight=len(trace.tasks()) if trace else 0,
            error=error,
            extra=extra or {},
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(event_type, extra={"flow_event": event.to_payload()})
        for middleware in self._middlewares:
            try:
                await middleware(event)
            except Exception:
                logger.exception("middleware failed on %s", event_type)
        if self._state_store is not None:
            try:
                await self._state_store.save_event(event.to_stored())
            except Exception:
                logger.exception("state store failed to save %s", event_type)
