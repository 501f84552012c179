"""``PenguiFlow`` and ``create``: a graph of nodes joined by bounded, trace-laned queues.

Messages enter through ``emit`` (OpenSea, the ingress) and leave through ``fetch``
(Rookery, the egress). A trace that fails for good, is cancelled or runs past its
deadline always ends with exactly one terminal outcome that ``fetch`` raises, so no caller
is left waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import Any, Final

from ._call import call_node
from ._engine import Engine
from ._graph import Adjacency, build_graph
from ._lifecycle import FlowState
from ._runner import NodeRunner, Targets
from ._stats import FlowStats, NodeStats
from ._typing import Middleware
from .bus import MessageBus
from .errors import ConfigError, FlowStateError, UnknownTargetError
from .node import Node
from .registry import ModelRegistry
from .state import StateStore, StoredEvent
from .types import Message, StreamChunk, chunk_envelope

__all__ = ["DEFAULT_QUEUE_MAXSIZE", "FlowState", "FlowStats", "NodeStats", "PenguiFlow", "create"]

DEFAULT_QUEUE_MAXSIZE: Final = 64
"""The default capacity of each node's queue (``create(queue_maxsize=...)``)."""


class PenguiFlow:
    """A running graph of nodes. Build it with :func:`create`.

    See :func:`create` for the arguments.
    """

    def __init__(
        self,
        *adjacencies: Adjacency,
        queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
        allow_cycles: bool = False,
        middlewares: Sequence[Middleware] | None = None,
        emit_errors_to_rookery: bool = False,
        state_store: StateStore | None = None,
        message_bus: MessageBus | None = None,
        trace_capacity: int = 64,
        rookery_capacity: int | None = 4096,
        max_trace_markers: int = 10_000,
        cancel_grace_s: float = 5.0,
    ) -> None:
        self._engine = Engine(
            self,
            build_graph(adjacencies, allow_cycles=allow_cycles),
            queue_maxsize=queue_maxsize,
            trace_capacity=trace_capacity,
            rookery_capacity=rookery_capacity,
            max_trace_markers=max_trace_markers,
            cancel_grace_s=cancel_grace_s,
            middlewares=middlewares or (),
            state_store=state_store,
            message_bus=message_bus,
            emit_errors_to_rookery=emit_errors_to_rookery,
        )
        self._state_store = state_store
        self._chunk_seq: dict[str, int] = {}  # emit_chunk from outside: next seq per stream

    @property
    def state(self) -> FlowState:
        """Where the flow is in its lifecycle."""
        return self._engine.state

    @property
    def nodes(self) -> list[Node]:
        """The flow's nodes."""
        return [runner.node for runner in self._engine.runners.values()]

    @property
    def ingress_nodes(self) -> list[Node]:
        """Nodes that receive messages from ``emit`` (no predecessors)."""
        return [runner.node for runner in self._engine.ingress]

    def successors(self, node: Node | str) -> list[Node]:
        """Return the successors of ``node``.

        Raises:
            UnknownTargetError: ``node`` is not a node of this flow.
        """
        return [runner.node for runner in self._engine.runner_named(node).successors]

    def add_middleware(self, middleware: Middleware) -> None:
        """Add an event observer; only before ``run()``.

        Raises:
            FlowStateError: the flow is already running.
        """
        if self._engine.state is not FlowState.CREATED:
            raise FlowStateError("add_middleware() must be called before flow.run()")
        self._engine.events.middlewares.append(middleware)

    def run(self, *, registry: ModelRegistry | None = None) -> None:
        """Start the flow. A flow runs once; its graph and middlewares are then frozen.

        Args:
            registry: models to validate node inputs and outputs against (per
                ``NodePolicy.validate``). Every node that validates must be registered.

        Raises:
            FlowStateError: the flow was already started.
            ConfigError: a node validates (``NodePolicy.validate`` other than ``"none"``)
                but ``registry`` has no models for it.
        """
        self._engine.start(registry)

    async def stop(self) -> None:
        """Stop every worker and fail waiting callers with ``FlowStateError``; idempotent."""
        await self._engine.stop()

    def stats(self) -> FlowStats:
        """Return a snapshot of the flow: traces in flight, and each node's queue and workers."""
        return self._engine.stats()

    # ``emit`` and ``fetch`` return the engine's coroutine rather than awaiting it in a
    # coroutine of their own: one frame less for every caller waiting on a result (the
    # memory-per-trace bound). Use them as ``await flow.emit(...)``.

    def emit(
        self, msg: Any, to: Targets = None, trace_id: str | None = None
    ) -> Coroutine[Any, Any, None]:
        """Send ``msg`` into the flow, waiting for queue room, trace capacity and Rookery.

        While the flow holds ``rookery_capacity`` unread results, ``emit`` waits for
        some to be fetched.

        Args:
            msg: a ``Message`` envelope or a bare payload.
            to: ingress node(s) to send to; default all ingress nodes.
            trace_id: the trace of a bare payload (a ``Message`` carries its own).

        Raises:
            FlowStateError: the flow is not running.
            UnknownTargetError: ``to`` is not an ingress node.
        """
        return self._engine.emit(msg, to, trace_id)

    def emit_nowait(self, msg: Any, to: Targets = None, trace_id: str | None = None) -> None:
        """Like :meth:`emit` but raise ``QueueFullError`` instead of waiting.

        Raises:
            QueueFullError: an ingress queue is full, the trace has ``trace_capacity``
                messages in flight, or the flow holds ``rookery_capacity`` unread results.
        """
        self._engine.emit_nowait(msg, to, trace_id)

    async def emit_chunk(
        self,
        *,
        parent: Message,
        text: str,
        stream_id: str | None = None,
        seq: int | None = None,
        done: bool = False,
        meta: Mapping[str, Any] | None = None,
        to: Targets = None,
    ) -> StreamChunk:
        """Stream a piece of text into the flow from outside a node (through OpenSea).

        Like ``ctx.emit_chunk``: the chunk travels in an envelope with ``parent``'s
        headers and trace, numbered per stream (0, 1, 2... until ``done``).

        Args:
            parent: the envelope the chunk belongs to.
            text: the chunk's text.
            stream_id: defaults to ``parent.trace_id``.
            seq: an explicit position (the numbering carries on from it).
            done: ``True`` on the last chunk of the stream.
            meta: metadata for the chunk.
            to: ingress node(s) to send to; default all ingress nodes.

        Returns:
            The chunk that was sent.

        Raises:
            ConfigError: ``parent`` is not a ``Message``.
            FlowStateError: the flow is not running.
        """
        if not isinstance(parent, Message):
            raise ConfigError(
                f"flow.emit_chunk(parent=...) needs a Message envelope, got {type(parent).__name__}"
            )
        sid = stream_id or parent.trace_id
        number = self._chunk_seq.get(sid, 0) if seq is None else seq
        if done:
            self._chunk_seq.pop(sid, None)
        else:
            self._chunk_seq[sid] = number + 1
        chunk = StreamChunk(stream_id=sid, seq=number, text=text, done=done, meta=dict(meta or {}))
        await self._engine.emit(chunk_envelope(parent, chunk), to, None)
        return chunk

    def fetch(
        self, trace_id: str | None = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """Return the next result (of ``trace_id`` if given, else of any trace).

        Args:
            trace_id: fetch only this trace's results.
            timeout: seconds to wait; ``None`` waits until a result arrives.

        Raises:
            FlowError: the trace failed for good (node failure, deadline); returned
                instead with ``create(emit_errors_to_rookery=True)``.
            TraceCancelled: the trace was cancelled.
            FlowStateError: the flow is not running or was stopped while waiting.
            TimeoutError: ``timeout`` passed without a result.
        """
        return self._engine.fetch(trace_id, timeout)

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
        self._engine.require_running("call")
        runner = self._ingress_runner(to)
        if timeout is None:
            return await call_node(self._engine, runner, msg)
        try:
            async with asyncio.timeout(timeout):
                return await call_node(self._engine, runner, msg)
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
        ingress = self._engine.ingress
        if to is None and len(ingress) != 1:
            raise UnknownTargetError(
                "the flow has several ingress nodes "
                f"({', '.join(r.name for r in ingress)}); name one: caller(to=...)"
            )
        runner = ingress[0] if to is None else self._ingress_runner(to)
        return partial(call_node, self._engine, runner)

    async def load_history(self, trace_id: str) -> Sequence[StoredEvent]:
        """Return the events the flow's ``state_store`` saved for ``trace_id``.

        Raises:
            FlowStateError: the flow was created without a ``state_store``.
        """
        if self._state_store is None:
            raise FlowStateError(
                "flow.load_history() needs a state store: create(..., state_store=store)"
            )
        return await self._state_store.load_history(trace_id)

    async def cancel(self, trace_id: str) -> bool:
        """Cancel a trace: drop its queued work, cancel its running attempts.

        Later (or waiting) ``fetch(trace_id=...)`` calls raise ``TraceCancelled``.

        Returns:
            ``True`` if the trace had work or unread results, ``False`` if it was unknown.
        """
        return await self._engine.cancel(trace_id)

    def _ingress_runner(self, to: Node | str) -> NodeRunner:
        if not isinstance(to, Node | str):
            raise UnknownTargetError(f"flow.call(to=...) takes one ingress node, got {to!r}")
        return self._engine.ingress_targets(to)[0]


def create(
    *adjacencies: Adjacency,
    queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
    allow_cycles: bool = False,
    middlewares: Sequence[Middleware] | None = None,
    emit_errors_to_rookery: bool = False,
    state_store: StateStore | None = None,
    message_bus: MessageBus | None = None,
    trace_capacity: int = 64,
    rookery_capacity: int | None = 4096,
    max_trace_markers: int = 10_000,
    cancel_grace_s: float = 5.0,
) -> PenguiFlow:
    """Build a flow from edges such as ``a.to(b, c)`` (or lone nodes).

    Args:
        adjacencies: ``node.to(*successors)`` results, or nodes without edges.
        queue_maxsize: capacity of each node's queue (``<= 0`` for unbounded).
        allow_cycles: allow cycles in the graph (controller loops).
        middlewares: ``async def mw(event: FlowEvent)`` observers.
        emit_errors_to_rookery: ``fetch`` (and ``call``) return a failed trace's
            ``FlowError`` as a value instead of raising it. Off by default: a failure
            is raised, so an ``except`` clause cannot miss it.
        state_store: persists every ``FlowEvent`` as a ``StoredEvent``.
        message_bus: receives every message entering a node.
        trace_capacity: most messages of one trace in flight (queued, running or unread);
            ``emit`` waits above it and producers of unread results wait too.
        rookery_capacity: most unread results of all traces together; at the bound
            ``emit`` waits (``emit_nowait`` raises ``QueueFullError``) and so do nodes
            producing results, except while a caller waits for a particular trace
            (``fetch(trace_id=...)``, ``call``). ``None``: no bound.
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
        emit_errors_to_rookery=emit_errors_to_rookery,
        state_store=state_store,
        message_bus=message_bus,
        trace_capacity=trace_capacity,
        rookery_capacity=rookery_capacity,
        max_trace_markers=max_trace_markers,
        cancel_grace_s=cancel_grace_s,
    )
