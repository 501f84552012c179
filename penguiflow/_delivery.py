"""Moving messages between nodes and into Rookery, and counting each trace's work.

Mixed into ``PenguiFlow``; ``NodeRunner`` and ``Context`` call these on every message,
so they stay synchronous whenever there is room.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from ._rookery import Rookery
from ._runner import NodeRunner, payload_of
from ._trace import TraceState
from ._typing import Middleware
from .bus import BusEnvelope, MessageBus
from .errors import FlowError, FlowErrorCode, QueueFullError, UnknownTargetError
from .node import Node
from .state import StateStore
from .types import WM, Message

__all__ = ["Delivery", "Targets"]

logger = logging.getLogger("penguiflow.flow")

Targets = Node | str | Sequence[Node | str] | None


class Delivery:
    """Enqueue, forward and deliver messages; keep per-trace counts."""

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
    _inline_tasks: set[asyncio.Task[Any]]

    def _targets_from(self, src: NodeRunner, to: Targets) -> list[NodeRunner] | None:
        if to is None:
            return None
        items = [to] if isinstance(to, Node | str) else list(to)
        runners = []
        for item in items:
            name = item if isinstance(item, str) else item.name
            if name not in src.successor_names:
                raise UnknownTargetError(
                    f"node {src.name!r} emitted to {name!r}, which is not one of its "
                    f"successors ({', '.join(sorted(src.successor_names)) or 'none'}); "
                    f"add the edge with {src.name}.to({name})"
                )
            runners.append(self._runners[name])
        return runners

    def _used(self, key: str) -> int:
        trace = self._traces.get(key)
        return (trace.pending if trace else 0) + self._rookery.count(key)

    async def _wait_capacity(self, key: str) -> None:
        while self._used(key) >= self._trace_capacity:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._capacity_waiters.setdefault(key, deque()).append(fut)
            try:
                await fut
            finally:
                waiters = self._capacity_waiters.get(key)
                if waiters is not None:
                    if fut in waiters:
                        waiters.remove(fut)
                    if not waiters:
                        del self._capacity_waiters[key]

    def _wake_capacity(self, key: str | None) -> None:
        if key is None or not self._capacity_waiters:
            return
        waiters = self._capacity_waiters.get(key)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _trace_for_enqueue(self, key: str) -> TraceState | None:
        trace = self._traces.get(key)
        if trace is None:
            trace = self._traces[key] = TraceState(key)
        elif trace.terminated is not None:
            return None
        return trace

    def _put_now(
        self, runner: NodeRunner, key: str | None, value: Any, *, spawn: bool = True
    ) -> None:
        """Queue ``value`` on ``runner`` now; the caller has checked there is room."""
        if key is not None:
            trace = self._traces.get(key)
            if trace is None:
                trace = self._traces[key] = TraceState(key)
            elif trace.terminated is not None:
                return
            trace.pending += 1
        runner.floe.put_nowait(key, value)
        if spawn:
            runner.ensure_worker()

    def _deliver_now(self, key: str | None, trace: TraceState | None, value: Any) -> bool:
        """Deliver to Rookery without waiting when allowed; ``False`` means await.

        ``trace`` is the state of ``key`` when the caller has it at hand (else ``None``).
        """
        if trace is None:
            if key is None:
                return self._rookery.offer(None, value)
            trace = self._traces.get(key)
            if trace is None:
                return self._rookery.offer(key, value)
        if trace.terminated is not None:
            return True
        if not self._rookery.offer(key, value):
            return False
        trace.delivered += 1
        return True

    async def _enqueue(self, runner: NodeRunner, key: str | None, value: Any) -> None:
        if key is None:
            await runner.floe.put(None, value)
        else:
            trace = self._trace_for_enqueue(key)
            if trace is None:
                return
            trace.pending += 1
            try:
                await runner.floe.put(key, value)
            except BaseException:
                self._release(key)
                raise
        runner.ensure_worker()
        if self._bus is not None:
            await self._publish(runner, key, value)

    def _enqueue_nowait(self, runner: NodeRunner, key: str | None, value: Any) -> None:
        if runner.floe.full():
            raise QueueFullError(
                f"the queue of node {runner.name!r} is full ({runner.floe.maxsize} messages); "
                "use `await emit(...)` to wait for room"
            )
        self._put_now(runner, key, value)
        if self._bus is not None:
            task = asyncio.get_running_loop().create_task(self._publish(runner, key, value))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, runner: NodeRunner, key: str | None, value: Any) -> None:
        assert self._bus is not None
        headers = value.headers.model_dump() if isinstance(value, Message) else None
        envelope = BusEnvelope(
            edge=f"->{runner.name}",
            source=None,
            target=runner.name,
            trace_id=key,
            payload=payload_of(value),
            headers=headers,
        )
        try:
            await self._bus.publish(envelope)
        except Exception:
            logger.exception("message bus publish failed", extra={"trace_id": key})

    async def _emit_from(self, src: NodeRunner, key: str | None, msg: Any, to: Targets) -> None:
        await self._forward(src, key, msg, self._targets_from(src, to))

    def _emit_from_nowait(self, src: NodeRunner, key: str | None, msg: Any, to: Targets) -> None:
        targets = self._targets_from(src, to)
        if targets is None:
            if not src.successors or src.egress:
                if not self._deliver_now(key, None, msg):
                    raise QueueFullError(
                        f"trace {key} already has {self._trace_capacity} unread results; use "
                        "`await ctx.emit(...)` to wait until they are fetched"
                    )
                return
            targets = src.successors
        for runner in targets:
            self._enqueue_nowait(runner, key, msg)

    async def _forward(
        self, src: NodeRunner, key: str | None, value: Any, targets: list[NodeRunner] | None
    ) -> None:
        if targets is None:
            if not src.successors or (src.egress and not isinstance(payload_of(value), WM)):
                await self._to_rookery(key, value)
                return
            targets = src.successors
        # While waiting for room downstream, src's worker counts as ``blocked``: starting
        # more workers for src would only add more waiters (see ``ensure_worker``).
        src.blocked += 1
        try:
            for runner in targets:
                await self._enqueue(runner, key, value)
        finally:
            src.blocked -= 1

    async def _to_rookery(self, key: str | None, value: Any) -> None:
        if key is not None:
            trace = self._traces.get(key)
            if trace is not None:
                if trace.terminated is not None:
                    return
                trace.delivered += 1
                if not self._rookery.offer(key, value):
                    current = asyncio.current_task()
                    if trace.running is current and current in self._inline_tasks:
                        # flow.call runs this trace in its caller, the only reader of
                        # these results: waiting for room would never end.
                        self._rookery.put_nowait(key, value)
                    else:
                        await self._rookery.put(key, value)
                return
        await self._rookery.put(key, value)

    def _finish(self, trace: TraceState, task: asyncio.Task[None]) -> None:
        running = trace.running
        if running is task:
            running = trace.running = None
        elif isinstance(running, list):
            running.remove(task)
            if not running:
                running = trace.running = None
        if running is None and trace.drained is not None and not trace.drained.done():
            trace.drained.set_result(None)
        trace.pending -= 1
        if self._capacity_waiters:
            self._wake_capacity(trace.trace_id)
        if trace.pending <= 0 and not running:
            self._end_trace(trace)

    def _release(self, key: str | None) -> None:
        if key is None:
            return
        trace = self._traces.get(key)
        if trace is None:
            return
        trace.pending -= 1
        if self._capacity_waiters:
            self._wake_capacity(key)
        if trace.pending <= 0 and not trace.running:
            self._end_trace(trace)

    def _end_trace(self, trace: TraceState) -> None:
        key = trace.trace_id
        if self._traces.get(key) is trace:
            del self._traces[key]
        if trace.delivered == 0 and trace.terminated is None and not self._stopping:
            self._rookery.mark(
                key,
                FlowError(
                    FlowErrorCode.NO_RESULT,
                    "the trace finished without sending anything to Rookery (an egress "
                    "node returned None); return or emit a result from the last node",
                    trace_id=key,
                ),
            )

    def _next_stream_seq(self, trace_id: str, stream_id: str, done: bool) -> int:
        trace = self._traces.get(trace_id)
        if trace is None:
            return 0
        if trace.stream_seq is None:
            trace.stream_seq = {}
        seq = trace.stream_seq.get(stream_id, 0)
        if done:
            trace.stream_seq.pop(stream_id, None)
        else:
            trace.stream_seq[stream_id] = seq + 1
        return seq
