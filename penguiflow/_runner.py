"""``NodeRunner``: one node of a running flow, its queue and its pool of worker tasks.

Workers start on demand, one for each ready message that no idle or starting worker will
take, up to the node's ``max_concurrency`` (``flow.call`` callers running the node count
too). A worker takes a message, runs it (:func:`~penguiflow._execute.execute`), routes
the outcome (:func:`~penguiflow._routing.route`) and takes the next one; when the queue
is empty it waits, unless ``KEEP_IDLE`` workers already wait, and then it exits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ._execute import execute, failed_call
from ._floe import Floe
from ._routing import route, route_nowait, send, send_nowait
from ._stats import NodeStats
from .context import Context
from .errors import UnknownTargetError
from .node import Node
from .signals import FlowSignal
from .types import Message

if TYPE_CHECKING:
    from ._engine import Engine
    from .registry import ModelRegistry

__all__ = ["KEEP_IDLE", "YIELD_EVERY", "NodeRunner", "Targets"]

Targets = Node | str | Sequence[Node | str] | None
"""Where ``emit`` sends: a node, a node name, several of them, or ``None`` for the default."""

KEEP_IDLE: Final = 2
"""Idle workers a node keeps waiting for work; more than that exit when the queue is empty."""

YIELD_EVERY: Final = 32
"""A worker yields to the event loop after this many messages taken without waiting.

A node that never awaits (a controller loop routing to itself, say) would otherwise keep
the loop to itself: no cancel, timeout or ``stop()`` could run.
"""


class NodeRunner:
    """Runs one node of a flow: its Floe and a pool of up to ``max_concurrency`` workers.

    Attributes:
        engine: the flow's engine.
        node: the node.
        floe: the node's queue.
        successors: the runners its results go to.
        egress: its results go to Rookery (it has no successor but itself).
        single_call: a message is one call of the node (see ``bind``).
        results_to: where its results go: the successors, or ``None`` for Rookery
            (a controller's ``WM`` still loops back; see the routing step).
        workers: worker tasks alive (busy, idle or starting), each with the trace of the
            message it handles (``None`` when it has none, or a payload-only one).
        busy: workers handling a message now.
        idle: workers waiting for a message.
        starting: workers created that have not run yet.
        blocked: workers waiting for room in a successor's queue.
        inline: ``flow.call`` callers running the node in their own task now.
    """

    __slots__ = (
        "blocked",
        "busy",
        "egress",
        "engine",
        "floe",
        "func",
        "idle",
        "inline",
        "max_concurrency",
        "name",
        "node",
        "policy",
        "registry",
        "results_to",
        "single_call",
        "starting",
        "successor_names",
        "successors",
        "task_name",
        "validate_in",
        "validate_out",
        "workers",
    )

    def __init__(self, engine: Engine, node: Node, queue_maxsize: int) -> None:
        self.engine = engine
        self.node = node
        self.name = node.name
        self.task_name = f"penguiflow:{node.name}"
        self.func = node.func
        self.policy = node.policy
        self.max_concurrency = node.policy.max_concurrency
        self.floe = Floe(queue_maxsize, node.name)
        self.successors: tuple[NodeRunner, ...] = ()
        self.successor_names: frozenset[str] = frozenset()
        self.egress = True
        self.results_to: tuple[NodeRunner, ...] | None = None
        self.registry: ModelRegistry | None = None
        self.validate_in = False
        self.validate_out = False
        self.single_call = False
        self.workers: dict[asyncio.Task[None], str | None] = {}
        self.busy = 0
        self.idle = 0
        self.starting = 0
        self.blocked = 0
        self.inline = 0

    def connect(self, successors: tuple[NodeRunner, ...], *, egress: bool) -> None:
        """Set where the node's results go."""
        self.successors = successors
        self.successor_names = frozenset(s.name for s in successors)
        self.egress = egress
        self.results_to = None if egress else successors

    def bind(self, registry: ModelRegistry | None, *, observed: bool) -> None:
        """Decide, when the flow starts, how the node's messages are run.

        Which payloads are validated, and whether a message is a single call of the node
        (no validation, timeout, retry or event to report).
        """
        self.registry = registry
        known = registry is not None and registry.has(self.name)
        policy = self.policy
        self.validate_in = known and policy.validate in ("both", "in")
        self.validate_out = known and policy.validate in ("both", "out")
        self.single_call = not (
            observed
            or self.validate_in
            or self.validate_out
            or policy.timeout_s is not None
            or policy.max_retries > 0
        )

    def validated(self, value: Any, direction: str) -> Any:
        """Return ``value`` (or its envelope's payload) parsed by the registry.

        Raises:
            ValidationFailedError: the payload does not match the node's model.
        """
        assert self.registry is not None
        registry = self.registry
        validate = registry.validate_input if direction == "input" else registry.validate_output
        if isinstance(value, Message):
            parsed = validate(self.name, value.payload)
            if parsed is value.payload:
                return value
            return value.model_copy(update={"payload": parsed})
        return validate(self.name, value)

    def targets_for(self, to: Targets) -> tuple[NodeRunner, ...] | None:
        """The successors named by ``to`` (``None``: the default routing).

        Raises:
            UnknownTargetError: ``to`` names a node that is not a successor.
        """
        if to is None:
            return None
        items = [to] if isinstance(to, Node | str) else list(to)
        names = [item if isinstance(item, str) else item.name for item in items]
        for name in names:
            if name not in self.successor_names:
                raise UnknownTargetError(
                    f"node {self.name!r} emitted to {name!r}, which is not one of its "
                    f"successors ({', '.join(sorted(self.successor_names)) or 'none'}); "
                    f"add the edge with {self.name}.to({name})"
                )
        return tuple(s for name in names for s in self.successors if s.name == name)

    def stats(self) -> NodeStats:
        """A snapshot of the node's queue and workers."""
        floe = self.floe
        return NodeStats(
            queue_depth=floe.size,
            capacity=max(floe.maxsize, 0),
            peak_depth=floe.peak,
            workers=len(self.workers),
            busy=self.busy + self.inline,
            producers_waiting=floe.producers_waiting(),
        )

    # -- the worker pool -----------------------------------------------------------------

    def ensure_worker(self, *, own: int = 0) -> None:
        """Start workers for ready messages that no idle or starting worker will take.

        When the node is seen waiting inside a message (another worker, or a
        ``flow.call`` caller, is busy with one while messages are ready), a worker starts
        for each ready message, up to the concurrency limit. Otherwise one worker starts
        at a time: a node that never waits is best served by the worker already running.
        No worker starts while one waits for room in a successor's queue (another one
        would only wait too).

        Args:
            own: 1 when a worker of this node calls, busy with the message it just took.
        """
        unserved = len(self.floe.ready) - self.idle - self.starting
        if unserved <= 0 or self.blocked or self.engine.stopping:
            return
        room = self.max_concurrency - len(self.workers) - self.inline
        if room <= 0:
            return
        if self.busy + self.inline - own > 0:
            count = min(unserved, room)
        elif self.idle or self.starting:
            return  # that worker takes a message, then calls here in turn
        else:
            count = 1
        loop = asyncio.get_running_loop()
        for _ in range(count):
            self.workers[loop.create_task(self._work(), name=self.task_name)] = None
            self.starting += 1

    async def emit(self, key: str | None, msg: Any, to: Targets) -> None:
        """Send ``msg`` from this node (``ctx.emit``); see :func:`~penguiflow._routing.send`."""
        await send(self, key, msg, to)

    def emit_nowait(self, key: str | None, msg: Any, to: Targets) -> None:
        """Like :meth:`emit` but raise ``QueueFullError`` instead of waiting."""
        send_nowait(self, key, msg, to)

    async def fetch_lane(self, key: str | None) -> Any:
        """Take the next queued message of lane ``key`` (``ctx.fetch``)."""
        item = await self.floe.get_lane(key)
        self.engine.release(key)
        return item

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.starting -= 1
        engine = self.engine
        floe = self.floe
        in_a_row = 0  # messages taken without waiting since the last yield
        try:
            while True:
                if floe.ready:
                    key, item = floe.get_nowait()
                    in_a_row += 1
                elif self.idle >= KEEP_IDLE:
                    return  # surplus worker: the pool shrinks back when traffic drops
                else:
                    self.idle += 1
                    try:
                        key, item = await floe.get()
                    finally:
                        self.idle -= 1
                    in_a_row = 0
                self.busy += 1
                if floe.ready and not self.idle:
                    self.ensure_worker(own=1)  # more work than workers: grow the pool
                trace = None if key is None else engine.traces.get(key)
                if trace is not None:
                    trace.running += 1
                    self.workers[task] = key
                try:
                    if self.single_call and not (
                        isinstance(item, Message) and item.deadline_s is not None
                    ):
                        # The node's call without execute()'s frame around it: a frame
                        # less for each message in flight (memory-per-trace and 10,000
                        # traces bounds). execute() handles every other case.
                        try:
                            outcome = await self.func(item, Context(self, key, item))
                        except (Exception, FlowSignal) as exc:
                            outcome = failed_call(self, key, exc)
                    else:
                        outcome = await execute(self, key, item)
                    if not route_nowait(self, key, outcome):
                        await route(self, key, outcome)
                except asyncio.CancelledError:
                    if engine.stopping or trace is None or trace.outcome is None:
                        raise
                    task.uncancel()  # the trace ended under us; the worker carries on
                finally:
                    self.busy -= 1
                    floe.task_done(key)
                    if trace is not None:
                        self.workers[task] = None
                        engine.finish(trace, ran=True)
                if trace is not None and trace.outcome is not None and task.cancelling():
                    await _absorb_cancel(task, engine)
                if in_a_row >= YIELD_EVERY:
                    in_a_row = 0
                    await asyncio.sleep(0)
        finally:
            del self.workers[task]


async def _absorb_cancel(task: asyncio.Task[Any], engine: Engine) -> None:
    """Take a cancel aimed at a trace that already ended, so it misses the next message.

    The cancel may still be on its way to this task, or the node may have swallowed it.
    """
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        pass
    while task.cancelling():
        task.uncancel()
    if engine.stopping:
        raise asyncio.CancelledError
