"""``Engine``: the state of a running flow, and the one place that changes it.

The engine owns the node runners, the traces in flight, Rookery and the flow's tasks.
Runners, ``Context`` and ``flow.call`` use its public methods: ``enqueue`` and
``deliver`` move messages, ``finish`` and ``end_trace`` keep each trace's count and
outcome, ``event`` reports what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._events import EventReporter
from ._graph import Graph
from ._hooks import HOOKS
from ._lifecycle import FlowState
from ._rookery import NOTHING, Raise, Rookery
from ._runner import (
    NodeRunner,
    Targets,
    check_registry,
    ingress_key,
    ingress_named,
    runner_named,
)
from ._stats import FlowStats
from ._traces import TraceState, TraceTable
from ._typing import Middleware
from .bus import BusEnvelope, MessageBus
from .errors import (
    ConfigError,
    FlowError,
    FlowErrorCode,
    FlowStateError,
    QueueFullError,
    TraceCancelled,
)
from .node import Node
from .registry import ModelRegistry
from .state import StateStore
from .types import Message

if TYPE_CHECKING:
    from .flow import PenguiFlow

__all__ = ["Engine"]

logger = logging.getLogger("penguiflow.flow")

_STOPPED = "the flow was stopped"


class Engine:
    """Runs a flow's graph; see :func:`penguiflow.create` for the settings.

    Attributes:
        flow: the public flow object (``ctx.flow``).
        runners: the node runners by node name.
        ingress: the runners ``emit`` feeds.
        traces: the traces in flight.
        rookery: the results waiting to be fetched.
        state: where the flow is in its lifecycle.
        stopping: ``stop()`` was called.
        observed: events are built (someone consumes them).
        events: builds the events and hands them to the observers.
        bus: the message bus, if any.
        trace_capacity: most messages of one trace queued, running or unread.
        errors_as_values: ``fetch`` returns a trace's ``FlowError`` instead of raising it
            (``create(emit_errors_to_rookery=True)``).
    """

    def __init__(
        self,
        flow: PenguiFlow,
        graph: Graph,
        *,
        queue_maxsize: int,
        trace_capacity: int,
        rookery_capacity: int | None,
        max_trace_markers: int,
        cancel_grace_s: float,
        middlewares: Sequence[Middleware],
        state_store: StateStore | None,
        message_bus: MessageBus | None,
        emit_errors_to_rookery: bool = False,
    ) -> None:
        if trace_capacity < 1:
            raise ConfigError(f"create(trace_capacity=...) must be >= 1, got {trace_capacity}")
        if rookery_capacity is not None and (
            isinstance(rookery_capacity, bool)
            or not isinstance(rookery_capacity, int)
            or rookery_capacity < 1
        ):
            raise ConfigError(
                "create(rookery_capacity=...) must be an int >= 1, or None for no bound, "
                f"got {rookery_capacity!r}"
            )
        self.flow = flow
        self.runners = {
            name: NodeRunner(self, node, queue_maxsize) for name, node in graph.nodes.items()
        }
        for name, runner in self.runners.items():
            successors = tuple(self.runners[target] for target in graph.successors[name])
            runner.connect(successors, egress=graph.is_egress(name))
        self.ingress = [self.runners[name] for name in graph.ingress]
        self.traces = TraceTable()
        self.rookery = Rookery(
            trace_capacity=trace_capacity,
            untraced_capacity=queue_maxsize,
            capacity=rookery_capacity,
            max_markers=max_trace_markers,
        )
        self.state = FlowState.CREATED
        self.stopping = False
        self.observed = False
        self.bus = message_bus
        self.trace_capacity = trace_capacity
        self.errors_as_values = emit_errors_to_rookery
        self.events = EventReporter(list(middlewares), state_store)
        self._cancel_grace_s = cancel_grace_s
        self._inline: dict[asyncio.Task[Any], str] = {}  # flow.call callers: their trace
        self._needing_workers: dict[NodeRunner, None] = {}  # in the order they asked
        self._publishing: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def require_running(self, what: str) -> None:
        """Raise ``FlowStateError`` naming ``flow.<what>()`` unless the flow runs."""
        if self.state is FlowState.RUNNING:
            return
        if self.state is FlowState.CREATED:
            raise FlowStateError(f"call flow.run() before flow.{what}()")
        raise FlowStateError(f"flow.{what}() on a flow that is {self.state.value}")

    def start(self, registry: ModelRegistry | None) -> None:
        """Check the registry, bind it to the nodes and start accepting messages."""
        if self.state is not FlowState.CREATED:
            raise FlowStateError(
                f"flow.run() was already called (state: {self.state.value}); "
                "a flow runs once, build a new one with create(...)"
            )
        if registry is not None:
            check_registry(self.runners.values(), registry)
        self.observed = self.events.observed()
        for runner in self.runners.values():
            runner.bind(registry, observed=self.observed)
        self.state = FlowState.RUNNING
        hooks = HOOKS.runtime
        if hooks is not None:
            hooks.flow_started(self.flow)

    async def stop(self) -> None:
        """Cancel every worker, fail every waiting caller; idempotent."""
        if self.stopping:
            return
        self.stopping = True
        if self.state is FlowState.CREATED:
            self.state = FlowState.STOPPED
            return
        self.state = FlowState.STOPPING
        for runner in self.runners.values():
            runner.floe.close(FlowStateError(_STOPPED))
        for caller in list(self._inline):
            caller.cancel(_STOPPED)
        current = asyncio.current_task()
        workers = [task for runner in self.runners.values() for task in runner.workers]
        tasks = [t for t in (*workers, *self._publishing) if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.rookery.close(_STOPPED)
        self.traces.fail_waiters(FlowStateError(_STOPPED))
        self.traces.clear()
        for runner in self.runners.values():
            runner.workers.clear()  # workers cancelled before they first ran are still listed
        self.state = FlowState.STOPPED

    def wants_workers(self, runner: NodeRunner) -> None:
        """Note that ``runner``'s node has messages no worker will take (for sharing)."""
        self._needing_workers[runner] = None

    def served(self, runner: NodeRunner) -> None:
        """``runner``'s node started the workers it was missing."""
        self._needing_workers.pop(runner, None)

    def node_needing_workers(self) -> NodeRunner | None:
        """A node with messages no worker will take and room for one more, if any."""
        for runner in self._needing_workers:
            if runner.unserved() > 0 and runner.has_room():
                return runner
        return None

    def inline_started(self, task: asyncio.Task[Any], key: str) -> None:
        """Record that ``task`` runs a message of ``key`` for ``flow.call``."""
        self._inline[task] = key

    def inline_finished(self, task: asyncio.Task[Any]) -> None:
        """Record that ``task`` is done running a node for ``flow.call``."""
        del self._inline[task]

    def _tasks_running(self, key: str) -> list[asyncio.Task[Any]]:
        """The worker tasks and ``flow.call`` callers handling a message of trace ``key``."""
        tasks = [task for task, k in self._inline.items() if k == key]
        for runner in self.runners.values():
            tasks.extend(task for task, k in runner.workers.items() if k == key)
        return tasks

    def stats(self) -> FlowStats:
        """A snapshot of the flow's traces, queues, workers and unread results."""
        nodes = {name: runner.stats() for name, runner in self.runners.items()}
        rookery = self.rookery
        return FlowStats(
            self.state,
            len(self.traces),
            MappingProxyType(nodes),
            rookery_depth=rookery.depth,
            rookery_capacity=rookery.capacity or 0,
            rookery_peak=rookery.peak,
        )

    # -- the way in ----------------------------------------------------------------------

    async def emit(
        self, msg: Any, to: Targets, trace_id: str | None, *, for_caller: bool = False
    ) -> None:
        """``flow.emit``: wait for room in Rookery and the trace's capacity, then queue.

        ``for_caller``: sent by ``flow.call``, whose caller reads the result as it comes
        (it needs no room in Rookery).
        """
        if self.state is not FlowState.RUNNING:
            self.require_running("emit")
        key = ingress_key(msg, trace_id)
        runners = self.ingress_targets(to)
        if not for_caller and self.rookery.full():
            await self.rookery.wait_for_room()
        if key is not None and (key in self.traces or self.rookery.has(key)):
            await self.wait_for_capacity(key)
        if not self.try_send(runners, key, msg):
            await self.send(runners, key, msg)

    def emit_nowait(self, msg: Any, to: Targets, trace_id: str | None) -> None:
        """``flow.emit_nowait``: like :meth:`emit` but raise ``QueueFullError``."""
        self.require_running("emit_nowait")
        key = ingress_key(msg, trace_id)
        runners = self.ingress_targets(to)
        if self.rookery.full():
            raise QueueFullError(
                f"the flow holds {self.rookery.capacity} unread results (rookery_capacity); "
                "fetch results, or use `await emit(...)` to wait for room"
            )
        if key is not None and self.used(key) >= self.trace_capacity:
            raise QueueFullError(f"trace {key} has {self.trace_capacity} messages in flight")
        self.enqueue_nowait(runners, key, msg)

    def used(self, key: str) -> int:
        """Messages of trace ``key`` queued, running or unread."""
        trace = self.traces.get(key)
        return (trace.pending if trace is not None else 0) + self.rookery.count(key)

    async def wait_for_capacity(self, key: str) -> None:
        """Wait while trace ``key`` has ``trace_capacity`` messages in flight."""
        while self.used(key) >= self.trace_capacity:
            await self.traces.wait_for_room(key)

    def runner_named(self, node: Node | str) -> NodeRunner:
        """The runner of ``node`` (see :func:`~penguiflow._runner.runner_named`)."""
        return runner_named(self.runners, node)

    def ingress_targets(self, to: Targets) -> list[NodeRunner]:
        """The ingress runners named by ``to`` (``None``: all of them).

        Raises:
            UnknownTargetError: ``to`` names a node that is not an ingress node.
        """
        return self.ingress if to is None else ingress_named(self.runners, self.ingress, to)

    # -- moving messages -----------------------------------------------------------------

    def try_send(self, targets: Sequence[NodeRunner] | None, key: str | None, value: Any) -> bool:
        """Queue ``value`` on ``targets`` (``None``: deliver it to Rookery) if nothing waits.

        Returns ``False``, having done nothing, when a target's queue (or the trace's room
        in Rookery) is full, or when a message bus must be told first.
        """
        if targets is None:
            return self.deliver_nowait(key, value)
        if self.bus is not None:
            return False
        for runner in targets:
            if runner.floe.full():
                return False
        self._put(targets, key, value)
        return True

    async def send(self, targets: Sequence[NodeRunner], key: str | None, value: Any) -> None:
        """Queue ``value`` on each of ``targets`` in turn, waiting for room in each."""
        for runner in targets:
            await self.enqueue(runner, key, value)

    async def enqueue(self, runner: NodeRunner, key: str | None, value: Any) -> None:
        """Queue ``value`` on ``runner``'s node, waiting for room; count it for its trace."""
        trace = None
        if key is not None:
            trace = self.traces.open(key)
            if trace.outcome is not None:
                return  # the trace ended: nothing more runs for it
            trace.pending += 1
        floe = runner.floe
        try:
            await floe.put(key, value)
        except BaseException:
            if trace is not None:
                self.finish(trace, ran=False)  # it was never queued
            raise
        runner.want_workers()
        if self.bus is not None:
            await self._publish(runner, key, value)

    def enqueue_nowait(self, targets: Sequence[NodeRunner], key: str | None, value: Any) -> None:
        """Queue ``value`` on each of ``targets`` now.

        Raises:
            QueueFullError: a target's queue is full (then nothing was queued).
        """
        for runner in targets:
            if runner.floe.full():
                raise QueueFullError(
                    f"the queue of node {runner.name!r} is full ({runner.floe.maxsize} "
                    "messages); use `await emit(...)` to wait for room"
                )
        self._put(targets, key, value)
        if self.bus is not None:
            for runner in targets:
                task = asyncio.get_running_loop().create_task(self._publish(runner, key, value))
                self._publishing.add(task)
                task.add_done_callback(self._publishing.discard)

    def _put(self, targets: Sequence[NodeRunner], key: str | None, value: Any) -> None:
        """Queue ``value`` on ``targets``, which all have room; count it for its trace."""
        trace = None if key is None else self.traces.get(key)
        if trace is not None and trace.outcome is not None:
            return  # the trace ended: nothing more runs for it
        for runner in targets:
            runner.floe.put_nowait(key, value)
            runner.want_workers()
        if key is not None:
            if trace is None:
                trace = self.traces.new(key)
            trace.pending += len(targets)

    async def _publish(self, runner: NodeRunner, key: str | None, value: Any) -> None:
        assert self.bus is not None
        envelope = BusEnvelope(
            edge=f"->{runner.name}",
            source=None,
            target=runner.name,
            trace_id=key,
            payload=value.payload if isinstance(value, Message) else value,
            headers=value.headers.model_dump() if isinstance(value, Message) else None,
        )
        try:
            await self.bus.publish(envelope)
        except Exception:
            logger.exception("message bus publish failed", extra={"trace_id": key})

    async def deliver(self, key: str | None, value: Any) -> None:
        """Send a result to Rookery, waiting while its trace has too many unread results.

        A node run by ``flow.call`` in its caller's task never waits for room for its own
        trace: its caller, the only reader, is busy running it.
        """
        trace = None if key is None else self.traces.get(key)
        if trace is not None:
            if trace.outcome is not None:
                return  # the trace ended: its results are dropped
            trace.delivered += 1
            if self.rookery.offer(key, value):
                return
            current = asyncio.current_task()
            if current is not None and self._inline.get(current) == key:
                self.rookery.put_nowait(key, value)
                return
        await self.rookery.put(key, value)

    def deliver_nowait(self, key: str | None, value: Any) -> bool:
        """Send a result to Rookery unless its lane is full (then ``False``)."""
        trace = None if key is None else self.traces.get(key)
        if trace is not None and trace.outcome is not None:
            return True
        if not self.rookery.offer(key, value):
            return False
        if trace is not None:
            trace.delivered += 1
        return True

    # -- counting and ending traces ------------------------------------------------------

    def finish(self, trace: TraceState, *, ran: bool) -> None:
        """One message of ``trace`` is done: it ran (``ran``), or was taken or dropped."""
        if ran:
            trace.running -= 1
            if trace.drained is not None and not trace.running:
                trace.drained.set()
        trace.pending -= 1
        if self.traces.room_waiters:
            self.traces.wake(trace.trace_id)
        if trace.pending <= 0 and not trace.running:
            self._retire(trace)

    def release(self, key: str | None) -> None:
        """A queued message of ``key`` was taken by ``ctx.fetch`` within another one."""
        trace = None if key is None else self.traces.get(key)
        if trace is not None:
            self.finish(trace, ran=False)

    def _retire(self, trace: TraceState) -> None:
        """Forget a trace with nothing queued or running; report one that sent nothing."""
        self.traces.remove(trace)
        if trace.delivered == 0 and trace.outcome is None and not self.stopping:
            self.rookery.mark(
                trace.trace_id,
                FlowError(
                    FlowErrorCode.NO_RESULT,
                    "the trace finished without sending anything to Rookery (an egress "
                    "node returned None); return or emit a result from the last node",
                    trace_id=trace.trace_id,
                ),
            )

    def end_trace(self, key: str | None, exc: BaseException, *, cancelled: bool = False) -> None:
        """End trace ``key`` with ``exc``: drop its queued work, cancel its running work.

        Only the first ending counts. ``fetch`` raises ``exc`` for that trace.
        """
        if key is None:
            self.rookery.put_nowait(None, Raise(exc))
            return
        trace = self.traces.open(key)
        if trace.outcome is not None:
            return
        trace.outcome = exc
        for runner in self.runners.values():
            trace.pending -= runner.floe.drop(key)
        current = asyncio.current_task()
        for task in self._tasks_running(key):
            if task is not current:
                task.cancel(f"trace {key} ended: {type(exc).__name__}")
        if cancelled:
            self.rookery.discard(key)
            self.rookery.fail_trace(key, exc)
        else:
            trace.delivered += 1
            self.rookery.put_nowait(key, Raise(exc))
        for runner in self.runners.values():
            try:
                runner.node.on_trace_end(key)
            except Exception:
                logger.exception("on_trace_end hook failed", extra={"node": runner.name})
        self.traces.wake_all(key)
        self.traces.ended(key, exc)
        if trace.pending <= 0 and not trace.running:
            self.traces.remove(trace)

    async def cancel(self, trace_id: str) -> bool:
        """``flow.cancel``: end the trace with ``TraceCancelled``; see there."""
        if self.state is not FlowState.RUNNING:
            return False
        trace = self.traces.get(trace_id)
        if trace is None and self.rookery.count(trace_id) == 0:
            return False
        if trace is not None and trace.outcome is not None:
            return True
        await self.event("trace_cancel_start", None, trace_id, cancelled=True)
        exc = TraceCancelled(trace_id)
        if trace is None:
            self.rookery.discard(trace_id)
            self.rookery.fail_trace(trace_id, exc)
            self.traces.ended(trace_id, exc)
        else:
            self.end_trace(trace_id, exc, cancelled=True)
            await self._drain(trace)
        await self.event("trace_cancel_finish", None, trace_id, cancelled=True)
        return True

    def watch_trace(self, key: str) -> contextlib.AbstractContextManager[asyncio.Future[Any]]:
        """Within the block, a future set to the error trace ``key`` ends with.

        For work done for a trace outside the flow (``call_playbook(runtime=...)``): it
        stops when the trace is cancelled or fails. Stopping the flow sets it to a
        ``FlowStateError``.
        """
        return self.traces.watch(key)

    async def _drain(self, trace: TraceState) -> None:
        """Wait up to ``cancel_grace_s`` for the tasks still running ``trace`` to stop."""
        if not trace.running or asyncio.current_task() in self._tasks_running(trace.trace_id):
            return
        trace.drained = asyncio.Event()
        try:
            async with asyncio.timeout(self._cancel_grace_s):
                await trace.drained.wait()
        except TimeoutError:
            logger.warning(
                "trace %s: work still running %ss after its cancel",
                trace.trace_id,
                self._cancel_grace_s,
            )

    def next_stream_seq(
        self, trace_id: str, stream_id: str, done: bool, seq: int | None = None
    ) -> int:
        """Number the next chunk of ``stream_id`` (``ctx.emit_chunk``).

        An explicit ``seq`` is used as is, and the numbering carries on from it.
        """
        trace = self.traces.get(trace_id)
        if trace is None:
            return 0 if seq is None else seq
        if trace.stream_seq is None:
            trace.stream_seq = {}
        if seq is None:
            seq = trace.stream_seq.get(stream_id, 0)
        if done:
            trace.stream_seq.pop(stream_id, None)
        else:
            trace.stream_seq[stream_id] = seq + 1
        return seq

    # -- the way out ---------------------------------------------------------------------

    async def fetch(self, trace_id: str | None, timeout: float | None) -> Any:
        """``flow.fetch``: the next result (of ``trace_id``, or of any trace)."""
        if self.state is not FlowState.RUNNING:
            self.require_running("fetch")
        rookery = self.rookery
        item = rookery.take_any() if trace_id is None else rookery.take(trace_id)
        if item is NOTHING:
            fut = rookery.waiter(trace_id)
            try:
                if timeout is None:
                    item = await fut
                else:
                    async with asyncio.timeout(timeout):
                        item = await fut
            except BaseException:
                rookery.abandon(fut, trace_id)
                raise
        key = trace_id
        if key is None:
            key, item = item  # results of any trace come with their trace id
        if self.traces.room_waiters:
            self.traces.wake(key)
        if type(item) is Raise:
            if self.errors_as_values and isinstance(item.exc, FlowError):
                return item.exc
            raise item.exc
        return item

    # -- events --------------------------------------------------------------------------

    async def event(
        self,
        event_type: str,
        runner: NodeRunner | None,
        key: str | None,
        *,
        attempt: int = 0,
        latency_ms: float | None = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        cancelled: bool = False,
    ) -> None:
        """Report a ``FlowEvent`` when anything observes the flow.

        ``cancelled`` marks the event as one of a cancelled trace (the trace's own
        outcome says so otherwise, while it is in flight).
        """
        if self.observed:
            trace = None if key is None else self.traces.get(key)
            await self.events.report(
                event_type,
                runner,
                key,
                trace,
                attempt=attempt,
                latency_ms=latency_ms,
                error=error,
                extra=extra,
                cancelled=cancelled,
            )
