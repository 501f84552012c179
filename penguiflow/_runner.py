"""``NodeRunner``: one node of a running flow, its queue and its pool of workers.

The pool grows on demand, up to the node's ``max_concurrency`` (``flow.call`` callers
running the node count too): when messages wait that no worker will take, the node asks
for workers, and on the next turn of the event loop starts as many as are still missing
(see :meth:`NodeRunner.want_workers`). The workers themselves are in ``_worker.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._floe import Floe
from ._routing import send, send_nowait
from ._stats import NodeStats
from ._worker import work
from .errors import ConfigError, UnknownTargetError
from .node import Node
from .types import Message

if TYPE_CHECKING:
    from ._engine import Engine
    from ._traces import TraceState
    from .registry import ModelRegistry

__all__ = [
    "NodeRunner",
    "Targets",
    "check_registry",
    "ingress_key",
    "ingress_named",
    "runner_named",
]

Targets = Node | str | Sequence[Node | str] | None
"""Where ``emit`` sends: a node, a node name, several of them, or ``None`` for the default."""


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
        growing: the pool will check on the next turn of the event loop whether to grow.
    """

    __slots__ = (
        "blocked",
        "busy",
        "egress",
        "engine",
        "floe",
        "func",
        "growing",
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
        self.growing = False
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

    def unserved(self) -> int:
        """Ready messages that no idle or starting worker will take."""
        return len(self.floe.ready) - self.idle - self.starting

    def has_room(self) -> bool:
        """Whether one more worker may join (``max_concurrency``)."""
        return len(self.workers) + self.inline < self.max_concurrency

    def want_workers(self) -> None:
        """Ask for workers for the ready messages no worker will take.

        The pool grows on the next turn of the event loop, by what is still missing
        then: workers freed in the meantime, here or in other nodes, take messages first
        (see ``_worker.py``). Nothing grows while a worker waits for room in a
        successor's queue: another one would only wait too.
        """
        if self.growing or self.blocked or self.unserved() <= 0 or self.engine.stopping:
            return
        self.growing = True
        self.engine.wants_workers(self)
        asyncio.get_running_loop().call_soon(self._grow)

    def _grow(self) -> None:
        """Start the workers still missing (see :meth:`want_workers`).

        One per unserved message when a worker (or ``flow.call`` caller) is busy inside
        the node, so that messages overlap their waits; otherwise one, since a node
        that never waits is best served by the worker already running.
        """
        self.growing = False
        self.engine.served(self)
        unserved = self.unserved()
        room = self.max_concurrency - len(self.workers) - self.inline
        if unserved <= 0 or room <= 0 or self.blocked or self.engine.stopping:
            return
        count = min(unserved, room) if self.busy + self.inline else 1
        loop = asyncio.get_running_loop()
        for _ in range(count):
            self.workers[loop.create_task(work(self), name=self.task_name)] = None
            self.starting += 1

    async def wait_for_message(self) -> tuple[str | None, Any]:
        """Wait, as an idle worker, for the next ready message."""
        self.idle += 1
        try:
            return await self.floe.get()
        finally:
            self.idle -= 1

    def done_with(self, task: asyncio.Task[Any], key: str | None, trace: TraceState | None) -> None:
        """A worker finished a message of lane ``key``."""
        self.busy -= 1
        self.floe.task_done(key)
        if trace is not None:
            self.workers[task] = None
            self.engine.finish(trace, ran=True)

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


def check_registry(runners: Iterable[NodeRunner], registry: ModelRegistry) -> None:
    """Refuse nodes whose policy validates but that ``registry`` has no models for.

    Raises:
        ConfigError: names the nodes and the two ways to fix it.
    """
    missing = [r.name for r in runners if r.policy.validate != "none" and not registry.has(r.name)]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise ConfigError(
            f"flow.run(registry=...): node(s) {names} validate their payloads "
            "(NodePolicy.validate defaults to 'both') but the registry has no models for "
            "them; register each with registry.register(name, InModel, OutModel), or give "
            "the node NodePolicy(validate='none')"
        )


def runner_named(runners: Mapping[str, NodeRunner], node: Node | str) -> NodeRunner:
    """The runner of ``node`` (a node of the flow, or its name).

    Raises:
        UnknownTargetError: not a node of this flow.
    """
    name = node if isinstance(node, str) else node.name
    runner = runners.get(name)
    if runner is None or (isinstance(node, Node) and runner.node is not node):
        raise UnknownTargetError(
            f"{name!r} is not a node of this flow; nodes: {', '.join(sorted(runners))}"
        )
    return runner


def ingress_named(
    runners: Mapping[str, NodeRunner], ingress: Sequence[NodeRunner], to: Targets
) -> list[NodeRunner]:
    """The ingress runners named by ``to`` (one or several nodes or names).

    Raises:
        UnknownTargetError: ``to`` names a node that is not an ingress node.
    """
    items = [to] if isinstance(to, Node | str) else list(to or ())
    named = [runner_named(runners, item) for item in items]
    for runner in named:
        if runner not in ingress:
            raise UnknownTargetError(
                f"emit(to={runner.name!r}): not an ingress node; ingress nodes: "
                f"{', '.join(r.name for r in ingress)}"
            )
    return named


def ingress_key(msg: Any, trace_id: str | None) -> str | None:
    """The trace of a message entering the flow (``None``: payload-only).

    Raises:
        ConfigError: ``trace_id`` differs from the envelope's own.
    """
    if isinstance(msg, Message):
        if trace_id is not None and trace_id != msg.trace_id:
            raise ConfigError(
                f"emit(trace_id={trace_id!r}) differs from the message's trace_id "
                f"{msg.trace_id!r}; leave trace_id out for Message envelopes"
            )
        return msg.trace_id
    return trace_id
