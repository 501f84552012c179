"""How node workers take messages, how the pool grows and shrinks, and when they yield."""

import asyncio
import random
import threading
import time

import pytest
from runtime_helpers import echo_each, msg

from penguiflow import (
    WM,
    FinalAnswer,
    FlowError,
    FlowErrorCode,
    Node,
    NodePolicy,
    TraceCancelled,
    create,
)
from penguiflow.errors import FlowStateError


async def test_each_node_of_a_chain_runs_in_a_worker_task():
    tasks = []

    async def step(m, ctx):
        tasks.append(asyncio.current_task())
        return m

    a, b, c = (Node(step, name=n) for n in "abc")
    flow = create(a.to(b), b.to(c), c.to())
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        assert (await flow.fetch(trace_id=m.trace_id, timeout=1)).payload == 1
    finally:
        await flow.stop()
    assert len(tasks) == 3
    assert asyncio.current_task() not in tasks


async def test_a_message_waits_behind_its_trace_at_a_busy_successor():
    gate = asyncio.Event()
    holding = asyncio.Event()
    seen = []

    async def first(m, ctx):
        return m

    async def second(m, ctx):
        seen.append(m.payload)
        if m.payload == "T1":
            holding.set()
            await gate.wait()
        return m

    a = Node(first, name="a", policy=NodePolicy(max_concurrency=4))
    b = Node(second, name="b", policy=NodePolicy(max_concurrency=4))
    flow = create(a.to(b), b.to())
    flow.run()
    try:
        await flow.emit(msg("T1", trace_id="T"))
        await asyncio.wait_for(holding.wait(), 1)
        await flow.emit(msg("T2", trace_id="T"))
        await flow.emit(msg("U1", trace_id="U"))
        # U passes b while T's second message waits for T's first one there.
        assert (await flow.fetch(trace_id="U", timeout=1)).payload == "U1"
        assert seen == ["T1", "U1"]
        gate.set()
        assert (await flow.fetch(trace_id="T", timeout=1)).payload == "T1"
        assert (await flow.fetch(trace_id="T", timeout=1)).payload == "T2"
        assert seen == ["T1", "U1", "T2"]
    finally:
        await flow.stop()


async def test_a_fast_node_respects_its_successors_concurrency_limit():
    running = 0
    peak = 0

    async def quick(m, ctx):
        return m

    async def slow(m, ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        return m

    a = Node(quick, name="a", policy=NodePolicy(max_concurrency=8))
    b = Node(slow, name="b", policy=NodePolicy(max_concurrency=2))
    flow = create(a.to(b), b.to())
    flow.run()
    try:
        await echo_each(flow, 20, timeout=5)
    finally:
        await flow.stop()
    assert peak == 2


async def test_the_deadline_of_a_message_is_checked_at_the_next_node():
    ran = []

    async def expire(m, ctx):
        return m.model_copy(update={"deadline_s": time.time() - 1})

    async def never(m, ctx):
        ran.append(m.payload)
        return m

    a, b = Node(expire, name="a"), Node(never, name="b")
    flow = create(a.to(b), b.to())
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=1)
        assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED
        assert info.value.node_name == "b"
        assert ran == []
    finally:
        await flow.stop()


async def test_cancelling_a_trace_stops_the_node_and_the_worker_serves_others():
    started = asyncio.Event()
    cancelled = []

    async def first(m, ctx):
        return m

    async def second(m, ctx):
        if m.payload == "hang":
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(m.trace_id)
                raise
        return m

    a = Node(first, name="a", policy=NodePolicy(max_concurrency=1))
    b = Node(second, name="b", policy=NodePolicy(max_concurrency=1))
    flow = create(a.to(b), b.to())
    flow.run()
    try:
        await flow.emit(msg("hang", trace_id="T"))
        await started.wait()
        assert await flow.cancel("T")
        with pytest.raises(TraceCancelled):
            await flow.fetch(trace_id="T", timeout=1)
        assert cancelled == ["T"]
        await flow.emit(msg("ok", trace_id="U"))
        assert (await flow.fetch(trace_id="U", timeout=1)).payload == "ok"
        assert flow.stats().traces == 0
    finally:
        await flow.stop()


async def test_a_burst_reaches_the_concurrency_limit_of_a_node_that_suspends():
    barrier = asyncio.Barrier(6)

    async def meet(m, ctx):
        await barrier.wait()  # only passes once six calls run at the same time
        return m

    flow = create(Node(meet, name="meet", policy=NodePolicy(max_concurrency=6)))
    flow.run()
    try:
        await echo_each(flow, 6, timeout=2)
    finally:
        await flow.stop()


async def test_workers_waiting_for_room_downstream_are_not_joined_by_more():
    gate = asyncio.Event()

    async def quick(m, ctx):
        return m

    async def gated(m, ctx):
        await gate.wait()
        return m

    a = Node(quick, name="a", policy=NodePolicy(max_concurrency=16))
    b = Node(gated, name="b", policy=NodePolicy(max_concurrency=1))
    flow = create(a.to(b), b.to(), queue_maxsize=2)
    flow.run()
    try:
        ids = [f"t{i}" for i in range(8)]

        async def produce():
            for tid in ids:
                await flow.emit(msg(tid, trace_id=tid))

        producer = asyncio.create_task(produce())
        for _ in range(20):
            await asyncio.sleep(0)
        # b holds one message and its queue two more; a's workers wait for room there.
        # Starting more of them would only make more waiters.
        stats = flow.stats().nodes
        assert stats["a"].workers <= 2
        assert (stats["b"].queue_depth, stats["b"].capacity, stats["b"].busy) == (2, 2, 1)
        gate.set()
        await producer
        for tid in ids:
            assert (await flow.fetch(trace_id=tid, timeout=2)).payload == tid
    finally:
        await flow.stop()


async def test_a_final_answer_subclass_still_ends_a_controller_loop():
    class Answer(FinalAnswer):
        pass

    calls = []

    async def controller(m, ctx):
        calls.append(m.payload)
        return m.model_copy(update={"payload": Answer(text="done")})

    node = Node(controller, name="ctl", allow_cycle=True)
    flow = create(node.to(node))
    flow.run()
    try:
        m = msg("go")
        await flow.emit(m)
        result = await flow.fetch(trace_id=m.trace_id, timeout=1)
        assert isinstance(result.payload, Answer)
        assert calls == ["go"]
    finally:
        await flow.stop()


@pytest.mark.parametrize("seed", range(12))
async def test_random_flows_end_every_trace_and_leave_nothing_behind(seed):
    # Liveness across the worker paths (pool growth and shrinking, waits for room,
    # cancels, deadlines, failures, inline calls): every trace ends with one outcome and
    # nothing is left queued, running or waiting.
    rnd = random.Random(seed)

    async def work(m, ctx):
        if rnd.random() < 0.3:
            await asyncio.sleep(rnd.random() * 0.002)
        if rnd.random() < 0.03:
            raise ValueError("boom")
        return None if rnd.random() < 0.02 else m

    def policy():
        return NodePolicy(
            max_concurrency=rnd.choice([1, 2, 4, 16]), timeout_s=rnd.choice([None, None, 1.0])
        )

    length = rnd.randint(1, 5)
    nodes = [Node(work, name=f"n{i}", policy=policy()) for i in range(length)]
    edges = [nodes[i].to(nodes[i + 1]) for i in range(length - 1)] + [nodes[-1].to()]
    flow = create(*edges, queue_maxsize=rnd.choice([1, 2, 8]), trace_capacity=4)
    flow.run()
    outcomes = {}

    async def client(tid):
        deadline = time.time() + 0.005 if rnd.random() < 0.1 else None
        m = msg(tid, trace_id=tid, deadline_s=deadline)
        try:
            if length == 1 and rnd.random() < 0.5:
                await flow.call(m, to="n0")
            else:
                await flow.emit(m)
                if rnd.random() < 0.1:
                    await flow.cancel(tid)
                await flow.fetch(trace_id=tid, timeout=5)
            outcomes[tid] = "ok"
        except (FlowError, TraceCancelled) as exc:
            outcomes[tid] = type(exc).__name__

    try:
        ids = [f"t{i}" for i in range(rnd.randint(10, 40))]
        await asyncio.wait_for(asyncio.gather(*(client(t) for t in ids)), 10)
        assert set(outcomes) == set(ids)
        for _ in range(100):
            if not flow.stats().traces:
                break
            await asyncio.sleep(0.01)
        stats = flow.stats()
        assert stats.traces == 0
        for node in stats.nodes.values():
            assert (node.queue_depth, node.busy, node.producers_waiting) == (0, 0, 0)
    finally:
        await flow.stop()


def run_isolated(scenario, limit_s=10.0):
    """Run ``scenario()`` on an event loop of its own, in a thread; fail if it never ends.

    A node that keeps the event loop to itself would hang the test's own loop, so the
    scenario runs where a blocked loop can be detected from outside.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(scenario())
        except BaseException as exc:  # re-raised below, in the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), "the event loop stayed blocked: nothing else could run"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def spinning_controller():
    """A controller loop that never awaits: it hands its working memory straight back."""

    async def spin(m, ctx):
        return m

    node = Node(spin, name="spin")
    return create(node.to(node), allow_cycles=True)


def test_a_controller_loop_that_never_awaits_can_be_cancelled():
    async def scenario():
        flow = spinning_controller()
        flow.run()
        try:
            m = msg(WM(query="q", budget_hops=None))
            await flow.emit(m)
            await asyncio.sleep(0.01)  # the loop is running
            assert await asyncio.wait_for(flow.cancel(m.trace_id), 2)
            with pytest.raises(TraceCancelled):
                await flow.fetch(trace_id=m.trace_id, timeout=1)
        finally:
            await asyncio.wait_for(flow.stop(), 2)

    run_isolated(scenario)


def test_timeouts_still_fire_while_a_controller_loop_never_awaits():
    async def scenario():
        flow = spinning_controller()
        flow.run()
        try:
            m = msg(WM(query="q", budget_hops=None))
            await flow.emit(m)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await flow.fetch(trace_id=m.trace_id)
            with pytest.raises(TimeoutError):  # flow.call's own timeout too
                await flow.call(msg(WM(query="again", budget_hops=None)), to="spin", timeout=0.05)
        finally:
            await asyncio.wait_for(flow.stop(), 2)

    run_isolated(scenario)


def test_stop_ends_a_controller_loop_that_never_awaits():
    async def scenario():
        flow = spinning_controller()
        flow.run()
        m = msg(WM(query="q", budget_hops=None))
        await flow.emit(m)
        waiting = asyncio.create_task(flow.fetch(trace_id=m.trace_id))
        await asyncio.sleep(0.01)
        await asyncio.wait_for(flow.stop(), 2)
        with pytest.raises(FlowStateError):
            await waiting

    run_isolated(scenario)


async def test_a_busy_pool_shrinks_back_when_the_work_is_done():
    async def nap(m, ctx):
        await asyncio.sleep(0.01)
        return m

    flow = create(Node(nap, name="nap", policy=NodePolicy(max_concurrency=8)))
    flow.run()
    try:
        await echo_each(flow, 20, timeout=2)
        stats = flow.stats().nodes["nap"]
        assert stats.workers <= 2  # the idle workers kept waiting for more
        assert (stats.busy, stats.queue_depth) == (0, 0)
        assert stats.peak_depth >= 8  # the burst queued up before workers took it
    finally:
        await flow.stop()


async def test_workers_that_join_another_node_respect_its_concurrency_limit():
    running = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    def step(name):
        async def fn(m, ctx):
            running[name] += 1
            peak[name] = max(peak[name], running[name])
            await asyncio.sleep(0.001)
            running[name] -= 1
            return m

        return fn

    a = Node(step("a"), name="a", policy=NodePolicy(max_concurrency=8))
    b = Node(step("b"), name="b", policy=NodePolicy(max_concurrency=3))
    flow = create(a.to(b), b.to())
    flow.run()
    try:
        await echo_each(flow, 40, timeout=5)
        stats = flow.stats().nodes
        assert stats["a"].workers + stats["b"].workers <= 4  # idle ones kept, no more
    finally:
        await flow.stop()
    assert peak == {"a": 8, "b": 3}
