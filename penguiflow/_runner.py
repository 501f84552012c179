"""``NodeRunner``: the workers that run one node, its retries, timeouts and deadlines."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ._deadlines import deadline_in
from ._floe import BUSY, Floe
from ._kinds import CONTROL, ENVELOPE, kind_of, payload_kind
from .context import Context
from .errors import FlowError, FlowErrorCode, ValidationFailedError
from .node import Node
from .signals import FlowSignal
from .types import WM, FinalAnswer, Message

if TYPE_CHECKING:
    from .flow import PenguiFlow
    from .registry import ModelRegistry

__all__ = ["NodeRunner"]

_KEEP_IDLE = 2
"""Idle workers a node keeps waiting; more than that exit when they run out of work."""


_NODE_EXCEPTION = FlowErrorCode.NODE_EXCEPTION


def payload_of(value: Any) -> Any:
    """Return the payload of an envelope, or the value itself."""
    return value.payload if kind_of(value) == ENVELOPE else value


class NodeRunner:
    """Runs a node: a pool of up to ``max_concurrency`` workers fed by the node's Floe."""

    __slots__ = (
        "blocked",
        "egress",
        "floe",
        "flow",
        "func",
        "idle",
        "inline",
        "max_concurrency",
        "name",
        "node",
        "plain",
        "policy",
        "registry",
        "self_loop",
        "single_successor",
        "starting",
        "successor_names",
        "successors",
        "task_name",
        "validate_in",
        "validate_out",
        "workers",
    )

    def __init__(self, flow: PenguiFlow, node: Node, queue_maxsize: int) -> None:
        self.flow = flow
        self.node = node
        self.func = node.func  # bound again by bind_fast_path when the flow starts
        self.name = node.name
        self.task_name = f"penguiflow:{node.name}"
        self.policy = node.policy
        self.max_concurrency = node.policy.max_concurrency
        self.floe = Floe(queue_maxsize)
        self.successors: list[NodeRunner] = []
        self.successor_names: frozenset[str] = frozenset()
        self.egress = False
        self.single_successor: NodeRunner | None = None
        self.self_loop = False
        self.workers = 0  # worker tasks here now (running, idle or starting)
        self.idle = 0
        self.starting = 0
        self.blocked = 0
        self.inline = 0
        self.registry: ModelRegistry | None = None
        self.validate_in = False
        self.validate_out = False
        self.plain = False

    def bind_registry(self, registry: ModelRegistry | None) -> None:
        """Decide once whether inputs and outputs are validated."""
        self.registry = registry
        known = registry is not None and registry.has(self.name)
        self.validate_in = known and self.policy.validate in ("both", "in")
        self.validate_out = known and self.policy.validate in ("both", "out")

    def bind_fast_path(self, observed: bool) -> None:
        """Decide once whether messages can skip the timeout/retry/event machinery."""
        self.func = self.node.func
        self.max_concurrency = self.policy.max_concurrency
        self.plain = (
            not observed
            and self.policy.timeout_s is None
            and self.policy.max_retries == 0
            and not self.validate_in
            and not self.validate_out
        )

    def ensure_worker(self) -> None:
        """Start a worker if work is ready, no worker is idle or starting, and a slot is free.

        One new worker at a time: a node whose function never suspends is served by the
        worker already running, which drains the queue before anything else runs. A new
        worker that finds more work than it took starts more (see ``_work``), so a node
        that does suspend still reaches its concurrency limit within a few loop turns.
        No worker is added while every worker waits for room in a successor's queue: it
        would only wait too.
        """
        if self.needs_worker():
            self._spawn()

    def needs_worker(self) -> bool:
        """Whether ``ensure_worker`` would start a worker (see there)."""
        return (
            self.idle == 0
            and self.starting == 0
            and bool(self.floe.ready)
            and self.workers + self.inline < self.max_concurrency
            and (self.workers == 0 or self.blocked < self.workers)
        )

    def _spawn(self) -> None:
        if self.flow._stopping:
            return  # stop() cancels the workers it knows of; start no more
        task = asyncio.get_running_loop().create_task(self._work(), name=self.task_name)
        self.flow._workers.add(task)
        self.workers += 1
        self.starting += 1

    def _ramp_up(self) -> None:
        """Called by a new worker that took a message and left more queued behind it.

        No other worker of this node is idle or starting. If there is none at all, one
        more starts in case the node suspends. If the others are suspended in the node
        (not waiting for room downstream), the node does suspend: start one per ready
        lane so the waits overlap, up to the concurrency limit.
        """
        others = self.workers - 1
        if others <= 0:
            wanted = 1
        elif others > self.blocked:
            wanted = len(self.floe.ready)
        else:
            return  # the others wait for room downstream; more workers would wait too
        room = self.max_concurrency - self.workers - self.inline
        for _ in range(min(wanted, room)):
            self._spawn()

    async def fetch_lane(self, key: str | None) -> Any:
        """Take the next queued message of lane ``key`` (for ``ctx.fetch``)."""
        item = await self.floe.get_lane(key)
        self.flow._release(key)
        return item

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        flow = self.flow
        runner = self  # a worker may move to a successor node (see the handoff below)
        starting = True  # counted in self.starting until it takes work or waits for it
        try:
            while True:
                floe = runner.floe
                if floe.ready:
                    key, item = floe.get_nowait()
                    if starting:
                        starting = False
                        self.starting -= 1
                        if floe.ready and self.idle == 0 and self.starting == 0:
                            self._ramp_up()
                elif runner.idle >= _KEEP_IDLE:
                    return  # surplus worker: the pool shrinks back when traffic drops
                else:
                    if starting:
                        starting = False
                        self.starting -= 1
                    runner.idle += 1
                    try:
                        key, item = await floe.get()
                    finally:
                        runner.idle -= 1
                home = runner  # where this message was taken; a carry may leave it
                trace = None if key is None else flow._traces.get(key)
                if trace is not None:
                    if trace.running is None:
                        trace.running = task
                    else:
                        trace.add_running(task)
                handoff: NodeRunner | None = None
                try:
                    while True:
                        if runner.plain and (kind_of(item) != ENVELOPE or item.deadline_s is None):
                            # The plain branch of _process, inline: a message waiting in
                            # the node then holds one coroutine frame less (memory per
                            # in-flight trace).
                            try:
                                result = await runner.func(item, Context(runner, key, item))
                            except FlowSignal as exc:
                                await flow._signal(runner, key, exc)
                                break
                            except Exception as exc:
                                await flow._fail(runner, key, _NODE_EXCEPTION, exc, 1)
                                break
                        else:
                            result = await runner._process(key, item)
                        if result is None:
                            break
                        # Route the result; the common cases are inline (hot path).
                        if payload_kind(result) == CONTROL or flow._bus is not None:
                            await runner._route(key, result)  # hops, budgets, the bus
                            break
                        if trace is None:
                            if key is not None:
                                break  # the flow is stopping
                        elif trace.terminated is not None:
                            break  # the trace ended: its results are dropped
                        target = runner.single_successor
                        if target is None:
                            if not runner.successors or runner.egress:
                                # To Rookery (trace is live here, or None for key None).
                                if flow._rookery.offer(key, result):
                                    if trace is not None:
                                        trace.delivered += 1
                                else:
                                    await runner._route(key, result)  # wait for room
                            elif not runner._fan_out_now(key, result):
                                await runner._route(key, result)  # wait for room
                            break
                        if (
                            not floe.ready
                            and floe.lanes[key] is BUSY  # no more of this lane waits here
                            and not target.floe.ready
                            and key not in target.floe.lanes
                            and target.workers + target.inline < target.max_concurrency
                        ):
                            # Nothing waits here nor there: carry the result into the next
                            # node ourselves, as its next message, without queueing it.
                            floe.hand_over(key, target.floe)
                            runner.workers -= 1
                            target.workers += 1
                            runner, floe, item = target, target.floe, result
                            continue
                        if target.floe.full():
                            await runner._route(key, result)  # wait for room
                            break
                        if trace is not None:
                            trace.pending += 1
                        target.floe.put_nowait(key, result)
                        handoff = target  # queued without a worker: see below
                        break
                except asyncio.CancelledError:
                    if flow._stopping or trace is None or trace.terminated is None:
                        raise
                    # The trace was cancelled or ended under us; the worker carries on.
                    task.uncancel()
                finally:
                    floe.task_done(key)
                    if trace is not None:
                        flow._finish(trace, task)
                if (
                    trace is not None
                    and trace.terminated is not None
                    and task.cancelling()
                    and not flow._stopping
                ):
                    # A cancel aimed at the trace that just ended may not have reached
                    # this task yet, or the node swallowed it: absorb it here so it
                    # cannot hit the next message.
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        pass
                    task.uncancel()
                if handoff is not None:
                    if handoff.idle or handoff.starting or not handoff.needs_worker():
                        pass  # a worker there will take it
                    elif floe.ready:
                        handoff._spawn()
                    else:
                        # Nothing left here: follow the message instead of starting a task.
                        runner.workers -= 1
                        handoff.workers += 1
                        runner = handoff
                elif (
                    runner is not home
                    and not floe.ready
                    and home.floe.ready
                    and home.idle == 0
                    and home.starting == 0
                    and home.workers + home.inline < home.max_concurrency
                ):
                    # Back from carrying a message downstream, with nothing to do here and
                    # more waiting where it came from.
                    runner.workers -= 1
                    home.workers += 1
                    runner = home
        finally:
            if starting:
                self.starting -= 1
            # Synchronous removal keeps the pool size exact for the surplus check above.
            runner.workers -= 1
            flow._workers.discard(task)

    def _fan_out_now(self, key: str | None, result: Any) -> bool:
        """Queue ``result`` on every successor if all have room; else ``False``."""
        flow = self.flow
        if flow._bus is not None:
            return False
        for runner in self.successors:
            floe = runner.floe
            if 0 < floe.maxsize <= floe.size:
                return False
        for runner in self.successors:
            flow._put_now(runner, key, result)
        return True

    async def _route(self, key: str | None, result: Any) -> None:
        payload = result.payload if isinstance(result, Message) else result
        if isinstance(payload, WM):
            result = await self._count_hop(key, result, payload)
            if result is not None:
                await self.flow._forward(self, key, result, None)
        elif isinstance(payload, FinalAnswer):
            await self.flow._to_rookery(key, result)
        else:
            await self.flow._forward(self, key, result, None)

    async def _process(self, key: str | None, item: Any) -> Any:
        """Run ``item`` under the node's policy: deadline, validation, attempts, events.

        Returns the result to route, or ``None`` (nothing to send, or the trace ended).
        """
        flow = self.flow
        deadline = item.deadline_s if kind_of(item) == ENVELOPE else None
        if deadline is not None and time.time() >= deadline:
            await flow._deadline_skip(self, key)
            return None
        if self.validate_in:
            try:
                item = self._validated(item, "input")
            except ValidationFailedError as exc:
                await flow._fail(self, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
                return None
        if self.plain and deadline is None:
            try:
                result = await self.func(item, Context(self, key, item))
            except FlowSignal as signal:
                await flow._signal(self, key, signal)
                return None
            except Exception as exc:
                await flow._fail(self, key, _NODE_EXCEPTION, exc, 1)
                return None
        else:
            result = await self._attempts(key, item, deadline)
        if result is not None and self.validate_out:
            try:
                result = self._validated(result, "output")
            except ValidationFailedError as exc:
                await flow._fail(self, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
                return None
        return result

    def _validated(self, value: Any, direction: str) -> Any:
        assert self.registry is not None
        validate = (
            self.registry.validate_input if direction == "input" else self.registry.validate_output
        )
        if isinstance(value, Message):
            parsed = validate(self.name, value.payload)
            return (
                value if parsed is value.payload else value.model_copy(update={"payload": parsed})
            )
        return validate(self.name, value)

    async def _attempts(self, key: str | None, item: Any, deadline: float | None) -> Any:
        flow = self.flow
        policy = self.policy
        func = self.func
        ctx = Context(self, key, item)
        observed = flow._observed
        attempt = 0
        while True:
            if observed:
                await flow._event("node_start", self, key, attempt=attempt)
            started = time.perf_counter() if observed else 0.0
            limit = policy.timeout_s
            by_deadline = False
            if deadline is not None:
                remaining = deadline - time.time()
                if limit is None or remaining < limit:
                    limit, by_deadline = max(remaining, 0.0), True
            try:
                if limit is None:
                    result = await func(item, ctx)
                else:
                    with deadline_in(limit):
                        result = await func(item, ctx)
            except TimeoutError as exc:
                latency = (time.perf_counter() - started) * 1000
                if by_deadline:
                    await flow._deadline_exceeded(self, key, attempt, latency)
                    return None
                if observed:
                    await flow._event(
                        "node_timeout",
                        self,
                        key,
                        attempt=attempt,
                        latency_ms=latency,
                        error=f"timed out after {policy.timeout_s}s",
                    )
                failure: BaseException = exc
                code = FlowErrorCode.NODE_TIMEOUT
            except FlowSignal as signal:
                await flow._signal(self, key, signal)
                return None
            except Exception as exc:
                latency = (time.perf_counter() - started) * 1000
                if observed:
                    await flow._event(
                        "node_error",
                        self,
                        key,
                        attempt=attempt,
                        latency_ms=latency,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                failure = exc
                code = _NODE_EXCEPTION
            else:
                if observed:
                    await flow._event(
                        "node_success",
                        self,
                        key,
                        attempt=attempt,
                        latency_ms=(time.perf_counter() - started) * 1000,
                    )
                return result
            if attempt >= policy.max_retries:
                await flow._fail(self, key, code, failure, attempt + 1)
                return None
            attempt += 1
            delay = policy.backoff_for(attempt)
            if observed:
                await flow._event(
                    "node_retry", self, key, attempt=attempt, extra={"backoff_s": delay}
                )
            if deadline is not None and time.time() + delay >= deadline:
                await flow._deadline_exceeded(self, key, attempt, None)
                return None
            if delay > 0:
                await asyncio.sleep(delay)

    async def _count_hop(self, key: str | None, result: Any, wm: WM) -> Any:
        wm = wm.model_copy(update={"hops": wm.hops + 1})
        code: FlowErrorCode | None = None
        if wm.budget_hops is not None and wm.hops >= wm.budget_hops:
            code = FlowErrorCode.HOP_BUDGET_EXHAUSTED
        elif wm.budget_tokens is not None and wm.tokens_used > wm.budget_tokens:
            code = FlowErrorCode.TOKEN_BUDGET_EXHAUSTED
        if code is not None:
            error = FlowError(
                code,
                f"controller used {wm.hops} hops and {wm.tokens_used} tokens "
                f"(budgets: hops={wm.budget_hops}, tokens={wm.budget_tokens})",
                node_name=self.name,
                trace_id=key,
                metadata={"wm": wm.model_dump(mode="json")},
            )
            await self.flow._event("budget_exceeded", self, key, error=str(error))
            await self.flow._terminate(key, error, cancelled=False)
            return None
        if isinstance(result, Message):
            return result.model_copy(update={"payload": wm})
        return wm
