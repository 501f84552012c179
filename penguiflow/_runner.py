"""``NodeRunner``: the workers that run one node, its retries, timeouts and deadlines."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ._floe import Floe
from .context import Context
from .errors import FlowError, FlowErrorCode, ValidationFailedError
from .node import Node
from .signals import FlowSignal
from .types import WM, FinalAnswer, Message

if TYPE_CHECKING:
    from .flow import PenguiFlow
    from .registry import ModelRegistry

__all__ = ["NodeRunner"]

_CONTROL_PAYLOADS = (WM, FinalAnswer)

_KEEP_IDLE = 2
"""Idle workers a node keeps waiting; more than that exit when they run out of work."""


def payload_of(value: Any) -> Any:
    """Return the payload of an envelope, or the value itself."""
    return value.payload if isinstance(value, Message) else value


class NodeRunner:
    """Runs a node: a pool of up to ``max_concurrency`` workers fed by the node's Floe."""

    __slots__ = (
        "egress",
        "floe",
        "flow",
        "idle",
        "inline",
        "name",
        "node",
        "plain",
        "policy",
        "registry",
        "self_loop",
        "single_successor",
        "successor_names",
        "successors",
        "validate_in",
        "validate_out",
        "workers",
    )

    def __init__(self, flow: PenguiFlow, node: Node, queue_maxsize: int) -> None:
        self.flow = flow
        self.node = node
        self.name = node.name
        self.policy = node.policy
        self.floe = Floe(queue_maxsize)
        self.successors: list[NodeRunner] = []
        self.successor_names: frozenset[str] = frozenset()
        self.egress = False
        self.single_successor: NodeRunner | None = None
        self.self_loop = False
        self.workers: set[asyncio.Task[None]] = set()
        self.idle = 0
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
        self.plain = (
            not observed
            and self.policy.timeout_s is None
            and self.policy.max_retries == 0
            and not self.validate_in
            and not self.validate_out
        )

    def ensure_worker(self) -> None:
        """Start a worker if every worker is busy and the concurrency limit allows."""
        if (
            self.idle == 0
            and self.floe.has_ready()
            and len(self.workers) + self.inline < self.policy.max_concurrency
        ):
            task = asyncio.get_running_loop().create_task(
                self._work(), name=f"penguiflow:{self.name}"
            )
            self.workers.add(task)

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
        try:
            while True:
                floe = runner.floe
                if floe.has_ready():
                    key, item = floe.get_nowait()
                elif runner.idle >= _KEEP_IDLE:
                    return  # surplus worker: the pool shrinks back when traffic drops
                else:
                    runner.idle += 1
                    try:
                        key, item = await floe.get()
                    finally:
                        runner.idle -= 1
                trace = None if key is None else flow._start(key, task)
                handoff: NodeRunner | None = None
                try:
                    if runner.plain and (not isinstance(item, Message) or item.deadline_s is None):
                        # Hot path: no deadline, timeout, retries, validation or observers.
                        try:
                            result = await runner.node.func(item, Context(runner, key, item))
                        except FlowSignal as signal:
                            await flow._signal(runner, key, signal)
                        except Exception as exc:
                            await flow._fail(runner, key, FlowErrorCode.NODE_EXCEPTION, exc, 1)
                        else:
                            if result is not None:
                                if runner.single_successor is not None:
                                    handoff = runner._enqueue_for_handoff(key, result)
                                if handoff is None and not runner._route_nowait(key, result):
                                    await runner._route(key, result)
                    else:
                        await runner._process(key, item)
                except asyncio.CancelledError:
                    if flow._stopping or trace is None or trace.terminated is None:
                        raise
                    # The trace was cancelled or ended under us; the worker carries on.
                    task.uncancel()
                finally:
                    floe.task_done(key)
                    if trace is not None:
                        flow._finish(trace, task)
                if task.cancelling() and not flow._stopping:
                    # A cancel aimed at the trace just finished was not delivered yet:
                    # absorb it here so it cannot hit the next message.
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        task.uncancel()
                if handoff is not None:
                    if (
                        not floe.has_ready()
                        and handoff.idle == 0
                        and handoff.floe.has_ready()
                        and len(handoff.workers) < handoff.policy.max_concurrency
                    ):
                        # Nothing left here: follow the message instead of starting a task.
                        runner.workers.discard(task)
                        handoff.workers.add(task)
                        runner = handoff
                    else:
                        handoff.ensure_worker()
        finally:
            # Synchronous removal keeps the pool size exact for the surplus check above.
            runner.workers.discard(task)

    def _enqueue_for_handoff(self, key: str | None, result: Any) -> NodeRunner | None:
        """Queue ``result`` for the only successor without starting a worker there.

        Returns the successor, whose worker the caller must provide (by moving there or
        calling ``ensure_worker``), or ``None`` when the general routing applies.
        """
        target = self.single_successor
        flow = self.flow
        if target is None or flow._bus is not None:
            return None
        payload = result.payload if isinstance(result, Message) else result
        if isinstance(payload, _CONTROL_PAYLOADS):
            return None
        if key is None:
            floe = target.floe
            if floe.full():
                return None
            floe.put_nowait(None, result)
            return target
        if not flow._enqueue_if_room(target, key, result, spawn=False):
            return None
        return target

    def _route_nowait(self, key: str | None, result: Any) -> bool:
        """Route ``result`` without waiting if every target has room; else ``False``."""
        payload = result.payload if isinstance(result, Message) else result
        if isinstance(payload, _CONTROL_PAYLOADS):
            return False
        flow = self.flow
        successors = self.successors
        if not successors or self.egress:
            return flow._deliver_nowait_if_room(key, result)
        if len(successors) == 1:
            return flow._enqueue_if_room(successors[0], key, result)
        if flow._bus is not None:
            return False
        for runner in successors:
            if runner.floe.full():
                return False
        for runner in successors:
            flow._enqueue_if_room(runner, key, result)
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

    async def _process(self, key: str | None, item: Any) -> None:
        flow = self.flow
        deadline = item.deadline_s if isinstance(item, Message) else None
        if deadline is not None and time.time() >= deadline:
            await flow._deadline_skip(self, key)
            return
        if self.validate_in:
            try:
                item = self._validated(item, "input")
            except ValidationFailedError as exc:
                await flow._fail(self, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
                return
        if self.plain and deadline is None:
            try:
                result = await self.node.func(item, Context(self, key, item))
            except FlowSignal as signal:
                await flow._signal(self, key, signal)
                return
            except Exception as exc:
                await flow._fail(self, key, FlowErrorCode.NODE_EXCEPTION, exc, 1)
                return
        else:
            result = await self._attempts(key, item, deadline)
        if result is None:
            return
        if self.validate_out:
            try:
                result = self._validated(result, "output")
            except ValidationFailedError as exc:
                await flow._fail(self, key, FlowErrorCode.VALIDATION_FAILED, exc, 1)
                return
        if not self._route_nowait(key, result):
            await self._route(key, result)

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
        func = self.node.func
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
                    async with asyncio.timeout(limit):
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
                code = FlowErrorCode.NODE_EXCEPTION
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
