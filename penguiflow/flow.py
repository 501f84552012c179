"""``PenguiFlow`` and ``create``: a graph of nodes joined by bounded, trace-laned queues.

Messages enter through ``emit`` (OpenSea, the ingress) and leave through ``fetch``
(Rookery, the egress). A trace that fails for good, is cancelled or runs past its
deadline always ends with exactly one terminal outcome that ``fetch`` raises, so no caller
is left waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, NoReturn, cast

from ._delivery import Delivery, Targets
from ._endings import TraceEndings
from ._inline import call_node
from ._kinds import ENVELOPE, kind_of
from ._lifecycle import FlowState
from ._rookery import NOTHING, Raise, Rookery
from ._runner import NodeRunner
from ._trace import TraceState
from ._typing import Middleware
from .bus import MessageBus
from .errors import (
    ConfigError,
    CycleError,
    FlowStateError,
    QueueFullError,
    TraceCancelled,
    UnknownTargetError,
)
from .node import Node
from .registry import ModelRegistry
from .state import StateStore
from .types import Message

__all__ = ["FlowState", "PenguiFlow", "create"]

logger = logging.getLogger("penguiflow.flow")


class _StoppedFlow:
    """What the node runners of a stopped flow point to: any use raises ``FlowStateError``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> NoReturn:
        raise FlowStateError("the flow was stopped")


_STOPPED: PenguiFlow = cast("PenguiFlow", _StoppedFlow())


class PenguiFlow(Delivery, TraceEndings):
    """A running graph of nodes. Build it with :func:`create`.

    See :func:`create` for the arguments.
    """

    def __init__(
        self,
        *adjacencies: tuple[Node, Sequence[Node]] | Node,
        queue_maxsize: int = 64,
        allow_cycles: bool = False,
        middlewares: Sequence[Middleware] = (),
        state_store: StateStore | None = None,
        message_bus: MessageBus | None = None,
        trace_capacity: int = 64,
        max_trace_markers: int = 10_000,
        cancel_grace_s: float = 5.0,
    ) -> None:
        if trace_capacity < 1:
            raise ConfigError(f"create(trace_capacity=...) must be >= 1, got {trace_capacity}")
        self._queue_maxsize = queue_maxsize
        self._trace_capacity = trace_capacity
        self._cancel_grace_s = cancel_grace_s
        self._middlewares: list[Middleware] = list(middlewares)
        self._state_store = state_store
        self._bus = message_bus
        self._runners: dict[str, NodeRunner] = {}
        self._build(adjacencies, allow_cycles)
        self._ingress = [self._runners[name] for name in self._ingress_names]
        self._ingress_named = {r.name: r for r in self._ingress}
        self._sole_ingress = self._ingress[0] if len(self._ingress) == 1 else None
        self._capacity_waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self._rookery = Rookery(
            trace_capacity=trace_capacity,
            untraced_capacity=queue_maxsize,
            max_markers=max_trace_markers,
            on_take=self._wake_capacity,
            take_watchers=self._capacity_waiters,
        )
        self._traces: dict[str, TraceState] = {}
        self._state = FlowState.CREATED
        self._stopping = False
        self._observed = False
        self._inline_tasks: set[asyncio.Task[Any]] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._publishing: set[asyncio.Task[None]] = set()

    # -- construction -------------------------------------------------------------------

    def _runner_for(self, node: Node) -> NodeRunner:
        if not isinstance(node, Node):
            raise ConfigError(f"create(...) takes nodes and node.to(...) edges, got {node!r}")
        existing = self._runners.get(node.name)
        if existing is None:
            existing = self._runners[node.name] = NodeRunner(self, node, self._queue_maxsize)
        elif existing.node is not node:
            raise ConfigError(
                f"two different nodes are named {node.name!r}; give each node a unique name"
            )
        return existing

    def _build(
        self, adjacencies: Iterable[tuple[Node, Sequence[Node]] | Node], allow_cycles: bool
    ) -> None:
        edges: dict[str, list[str]] = {}
        for adj in adjacencies:
            source: Node
            targets: tuple[Node, ...]
            if isinstance(adj, Node):
                source, targets = adj, ()
            elif isinstance(adj, tuple) and len(adj) == 2:
                source, targets = adj[0], tuple(adj[1])
            else:
                raise ConfigError(f"create(...) takes node.to(...) edges or nodes, got {adj!r}")
            src = self._runner_for(source)
            out = edges.setdefault(src.name, [])
            for target in targets:
                dst = self._runner_for(target)
                edges.setdefault(dst.name, [])
                if dst.name not in out:
                    out.append(dst.name)
        if not self._runners:
            raise ConfigError("create(...) needs at least one node")
        entered: set[str] = set()  # nodes with an edge from another node
        for name, out_names in edges.items():
            runner = self._runners[name]
            runner.successors = [self._runners[t] for t in out_names]
            runner.successor_names = frozenset(out_names)
            runner.self_loop = name in out_names
            # (out_names holds each target once)
            runner.egress = not out_names or (runner.self_loop and len(out_names) == 1)
            if len(out_names) == 1 and not runner.egress:
                runner.single_successor = runner.successors[0]
            if runner.self_loop and not (allow_cycles or runner.node.allow_cycle):
                raise CycleError(
                    f"node {name!r} has an edge to itself; pass allow_cycles=True to create(...) "
                    "or Node(..., allow_cycle=True) if the loop is intended"
                )
            entered.update(t for t in out_names if t != name)
        if entered:
            self._check_cycles(edges, allow_cycles)  # (no edge between two nodes: no cycle)
        self._ingress_names = [name for name in edges if name not in entered]
        if not self._ingress_names:
            raise CycleError("every node has a predecessor: the flow has no entry node")

    @staticmethod
    def _check_cycles(edges: dict[str, list[str]], allow_cycles: bool) -> None:
        indegree = {name: 0 for name in edges}
        for name, targets in edges.items():
            for t in targets:
                if t != name:
                    indegree[t] += 1
        ready = [n for n, d in indegree.items() if d == 0]
        seen = 0
        while ready:
            name = ready.pop()
            seen += 1
            for t in edges[name]:
                if t != name:
                    indegree[t] -= 1
                    if indegree[t] == 0:
                        ready.append(t)
        if seen != len(edges) and not allow_cycles:
            cyclic = sorted(n for n, d in indegree.items() if d > 0)
            raise CycleError(
                f"the flow has a cycle through {', '.join(cyclic)}; pass allow_cycles=True "
                "to create(...) if the loop is intended"
            )

    # -- public API ---------------------------------------------------------------------

    @property
    def state(self) -> FlowState:
        """Where the flow is in its lifecycle."""
        return self._state

    @property
    def nodes(self) -> list[Node]:
        """The flow's nodes."""
        return [r.node for r in self._runners.values()]

    @property
    def ingress_nodes(self) -> list[Node]:
        """Nodes that receive messages from ``emit`` (no predecessors)."""
        return [r.node for r in self._ingress]

    def successors(self, node: Node | str) -> list[Node]:
        """Return the successors of ``node``."""
        return [r.node for r in self._runner_named(node).successors]

    def add_middleware(self, middleware: Middleware) -> None:
        """Add an event observer; only before ``run()``.

        Raises:
            FlowStateError: the flow is already running.
        """
        if self._state is not FlowState.CREATED:
            raise FlowStateError("add_middleware() must be called before flow.run()")
        self._middlewares.append(middleware)

    def run(self, *, registry: ModelRegistry | None = None) -> None:
        """Start the flow. A flow runs once; its graph and middlewares are then frozen.

        Args:
            registry: models to validate node inputs/outputs (per ``NodePolicy.validate``).

        Raises:
            FlowStateError: the flow was already started.
        """
        if self._state is not FlowState.CREATED:
            raise FlowStateError(
                f"flow.run() was already called (state: {self._state.value}); "
                "a flow runs once, build a new one with create(...)"
            )
        for runner in self._runners.values():
            runner.bind_registry(registry)
        self._observed = (
            bool(self._middlewares)
            or self._state_store is not None
            or (logger.isEnabledFor(logging.DEBUG))
        )
        for runner in self._runners.values():
            runner.bind_fast_path(self._observed)
        self._state = FlowState.RUNNING

    async def stop(self) -> None:
        """Stop every worker and fail waiting callers with ``FlowStateError``; idempotent."""
        if self._state in (FlowState.STOPPED, FlowState.STOPPING):
            return
        if self._state is FlowState.CREATED:
            self._state = FlowState.STOPPED
            return
        self._state = FlowState.STOPPING
        self._stopping = True
        reason = "the flow was stopped"
        closed = FlowStateError(reason)
        for runner in self._runners.values():
            runner.floe.close(closed)
        tasks = [*self._workers, *self._publishing]
        for inline in list(self._inline_tasks):
            inline.cancel("the flow was stopped")
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._rookery.close(reason)
        for waiters in self._capacity_waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(FlowStateError(reason))
        self._capacity_waiters.clear()
        self._traces.clear()
        self._workers.clear()  # workers cancelled before they first ran never removed themselves
        self._state = FlowState.STOPPED
        if not self._inline_tasks:
            # Nothing runs any more: unlink the runners from the flow, so that a stopped
            # flow is freed at once rather than by the cycle collector (a worker that
            # builds a flow per job stops thousands).
            for runner in self._runners.values():
                runner.flow = _STOPPED

    async def emit(self, msg: Any, to: Targets = None, trace_id: str | None = None) -> None:
        """Send ``msg`` into the flow, waiting for queue room and trace capacity.

        Args:
            msg: a ``Message`` envelope or a bare payload.
            to: ingress node(s) to send to; default all ingress nodes.
            trace_id: the trace of a bare payload (a ``Message`` carries its own).

        Raises:
            FlowStateError: the flow is not running.
            UnknownTargetError: ``to`` is not an ingress node.
        """
        if self._state is not FlowState.RUNNING:
            self._require_running("emit")
        if trace_id is None:
            key = msg.trace_id if kind_of(msg) == ENVELOPE else None
        else:
            key = self._ingress_key(msg, trace_id)
        trace = None
        if key is not None:
            trace = self._traces.get(key)
            if (trace is not None or self._rookery.has(key)) and (
                self._used(key) >= self._trace_capacity
            ):
                await self._wait_capacity(key)
                trace = self._traces.get(key)
        runner = self._sole_ingress if to is None else None
        if runner is not None and self._bus is None:
            # One entry node and room in its queue (the common case): no waiting.
            floe = runner.floe
            if not 0 < floe.maxsize <= floe.size:
                if key is not None:
                    if trace is None:
                        trace = self._traces[key] = TraceState(key)
                    elif trace.terminated is not None:
                        return  # the trace already ended: nothing more runs for it
                    trace.pending += 1
                floe.put_nowait(key, msg)
                if runner.idle == 0:
                    runner.ensure_worker()
                return
        for runner in self._ingress if to is None else self._ingress_targets(to):
            if self._bus is None and not runner.floe.full():
                self._put_now(runner, key, msg)
            else:
                await self._enqueue(runner, key, msg)

    def emit_nowait(self, msg: Any, to: Targets = None, trace_id: str | None = None) -> None:
        """Like :meth:`emit` but raise ``QueueFullError`` instead of waiting."""
        self._require_running("emit_nowait")
        key = self._ingress_key(msg, trace_id)
        targets = self._ingress_targets(to)
        if key is not None and self._used(key) >= self._trace_capacity:
            raise QueueFullError(f"trace {key} has {self._trace_capacity} messages in flight")
        if any(r.floe.full() for r in targets):
            raise QueueFullError("an ingress queue is full; use `await emit(...)` to wait")
        for runner in targets:
            self._enqueue_nowait(runner, key, msg)

    async def fetch(self, trace_id: str | None = None, *, timeout: float | None = None) -> Any:
        """Return the next result (of ``trace_id`` if given, else of any trace).

        Args:
            trace_id: fetch only this trace's results.
            timeout: seconds to wait; ``None`` waits until a result arrives.

        Raises:
            FlowError: the trace failed for good (node failure, deadline, budget).
            TraceCancelled: the trace was cancelled.
            FlowStateError: the flow is not running or was stopped while waiting.
            TimeoutError: ``timeout`` passed without a result.
        """
        if self._state is not FlowState.RUNNING:
            self._require_running("fetch")
        rookery = self._rookery
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
            if trace_id is None:
                trace_id, item = item
            if self._capacity_waiters:
                self._wake_capacity(trace_id)
        if type(item) is Raise:
            raise item.exc
        return item

    async def call(self, msg: Message, to: Node | str, *, timeout: float | None = None) -> Any:
        """Send ``msg`` to ingress node ``to`` and return its trace's first result.

        The same as ``emit`` then ``fetch(trace_id=msg.trace_id)``, with the same
        policies, validation, events and concurrency limits. When the node has a free
        slot and nothing queued, it runs in the calling task, which saves two scheduling
        round trips; otherwise the message is queued like any other.

        Args:
            msg: the envelope; its ``trace_id`` should be new.
            to: the ingress node.
            timeout: seconds to wait for the result.

        Raises:
            FlowError: the node failed for good.
            TraceCancelled: the trace was cancelled while running.
            FlowStateError: the flow is not running or was stopped.
            TimeoutError: ``timeout`` passed (the trace is then cancelled).
        """
        if self._state is not FlowState.RUNNING:
            self._require_running("call")
        runner = self._ingress_runner(to)
        if timeout is None:
            return await call_node(self, runner, msg)
        try:
            async with asyncio.timeout(timeout):
                return await call_node(self, runner, msg)
        except TimeoutError:
            await self.cancel(msg.trace_id)
            raise

    def caller(self, to: Node | str | None = None) -> Callable[[Message], Awaitable[Any]]:
        """Return :meth:`call` bound to ingress node ``to``, to be awaited as ``fn(msg)``.

        For many calls to one node (a tool called by every run of a planner): the node
        is looked up once, when the caller is made. Each call behaves as
        ``call(msg, to=to)`` without a timeout. ``to=None``: the flow's only ingress node.

        Raises:
            UnknownTargetError: ``to`` is not an ingress node of this flow, or ``to`` is
                ``None`` and the flow has several.
        """
        runner = self._sole_ingress if to is None else self._ingress_runner(to)
        if runner is None:
            raise UnknownTargetError(
                "the flow has several ingress nodes "
                f"({', '.join(r.name for r in self._ingress)}); name one: caller(to=...)"
            )
        return partial(call_node, self, runner)

    async def cancel(self, trace_id: str) -> bool:
        """Cancel a trace: drop its queued work, cancel its running attempts.

        Later (or waiting) ``fetch(trace_id=...)`` calls raise ``TraceCancelled``.

        Returns:
            ``True`` if the trace had work or unread results, ``False`` if it was unknown.
        """
        if self._state is not FlowState.RUNNING:
            return False
        trace = self._traces.get(trace_id)
        if trace is None and self._rookery.count(trace_id) == 0:
            return False
        if trace is not None and trace.terminated is not None:
            return True
        await self._event("trace_cancel_start", None, trace_id)
        exc = TraceCancelled(trace_id)
        if trace is None:
            self._rookery.discard(trace_id)
            self._rookery.wake_all_scoped(trace_id, exc)
        else:
            await self._terminate(trace_id, exc, cancelled=True)
            current = asyncio.current_task()
            if any(task is not current for task in trace.tasks()):
                trace.drained = asyncio.get_running_loop().create_future()
                await asyncio.wait({trace.drained}, timeout=self._cancel_grace_s)
        await self._event("trace_cancel_finish", None, trace_id)
        return True

    # -- internals used by NodeRunner and Context -----------------------------------------

    def _require_running(self, what: str) -> None:
        if self._state is FlowState.CREATED:
            raise FlowStateError(f"call flow.run() before flow.{what}()")
        if self._state is not FlowState.RUNNING:
            raise FlowStateError(f"flow.{what}() on a flow that is {self._state.value}")

    def _runner_named(self, node: Node | str) -> NodeRunner:
        name = node if isinstance(node, str) else node.name
        runner = self._runners.get(name)
        if runner is None or (isinstance(node, Node) and runner.node is not node):
            raise UnknownTargetError(
                f"{name!r} is not a node of this flow; nodes: {', '.join(sorted(self._runners))}"
            )
        return runner

    def _ingress_runner(self, to: Node | str) -> NodeRunner:
        if isinstance(to, Node):
            runner = self._ingress_named.get(to.name)
            if runner is not None and runner.node is to:
                return runner
        elif isinstance(to, str):
            runner = self._ingress_named.get(to)
            if runner is not None:
                return runner
        else:
            raise UnknownTargetError(f"flow.call(to=...) takes one ingress node, got {to!r}")
        return self._ingress_targets(to)[0]

    def _ingress_key(self, msg: Any, trace_id: str | None) -> str | None:
        if isinstance(msg, Message):
            if trace_id is not None and trace_id != msg.trace_id:
                raise ConfigError(
                    f"emit(trace_id={trace_id!r}) differs from the message's trace_id "
                    f"{msg.trace_id!r}; leave trace_id out for Message envelopes"
                )
            return msg.trace_id
        return trace_id

    def _ingress_targets(self, to: Targets) -> list[NodeRunner]:
        if to is None:
            return self._ingress
        items = [to] if isinstance(to, Node | str) else list(to)
        runners = [self._runner_named(t) for t in items]
        for runner in runners:
            if runner not in self._ingress:
                raise UnknownTargetError(
                    f"emit(to={runner.name!r}): not an ingress node; ingress nodes: "
                    f"{', '.join(r.name for r in self._ingress)}"
                )
        return runners


def create(
    *adjacencies: tuple[Node, Sequence[Node]] | Node,
    queue_maxsize: int = 64,
    allow_cycles: bool = False,
    middlewares: Sequence[Middleware] = (),
    state_store: StateStore | None = None,
    message_bus: MessageBus | None = None,
    trace_capacity: int = 64,
    max_trace_markers: int = 10_000,
    cancel_grace_s: float = 5.0,
) -> PenguiFlow:
    """Build a flow from edges such as ``a.to(b, c)`` (or lone nodes).

    Args:
        adjacencies: ``node.to(*successors)`` results, or nodes without edges.
        queue_maxsize: capacity of each node's queue (``<= 0`` for unbounded).
        allow_cycles: allow cycles in the graph (controller loops).
        middlewares: ``async def mw(event: FlowEvent)`` observers.
        state_store: persists every ``FlowEvent`` as a ``StoredEvent``.
        message_bus: receives every message entering a node.
        trace_capacity: most messages of one trace in flight (queued, running or unread);
            ``emit`` waits above it and producers of unread results wait too.
        max_trace_markers: how many cancelled/no-result outcomes are kept for late fetches.
        cancel_grace_s: how long ``cancel`` waits for running attempts to stop.

    Returns:
        A flow in the ``CREATED`` state; call ``run()`` to start it.

    Raises:
        CycleError: a cycle without ``allow_cycles=True``.
        ConfigError: duplicate node names or bad arguments.
    """
    return PenguiFlow(
        *adjacencies,
        queue_maxsize=queue_maxsize,
        allow_cycles=allow_cycles,
        middlewares=middlewares,
        state_store=state_store,
        message_bus=message_bus,
        trace_capacity=trace_capacity,
        max_trace_markers=max_trace_markers,
        cancel_grace_s=cancel_grace_s,
    )
