import asyncio

import pytest
from runtime_helpers import msg

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Node,
    NodePolicy,
    QueueFullError,
    create,
)
from penguiflow.testkit import simulate_error


async def test_retries_then_success_with_backoff_events():
    events = []

    async def record(event):
        events.append((event.event_type, event.attempt, event.extra.get("backoff_s")))

    flaky = simulate_error("flaky", fail_times=2)
    node = Node(
        flaky, name="flaky", policy=NodePolicy(max_retries=2, backoff_base=0.001, backoff_mult=3)
    )
    flow = create(node, middlewares=[record])
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        assert (await flow.fetch(trace_id=m.trace_id)).payload == 1
    finally:
        await flow.stop()
    assert flaky.attempts == 3
    retries = [e for e in events if e[0] == "node_retry"]
    assert retries == [("node_retry", 1, 0.001), ("node_retry", 2, pytest.approx(0.003))]
    assert [e[0] for e in events].count("node_error") == 2


async def test_retries_exhausted_deliver_flow_error():
    flaky = simulate_error("always", fail_times=99, exception_type=ValueError)
    node = Node(flaky, name="always", policy=NodePolicy(max_retries=1, backoff_base=0))
    flow = create(node)
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    err = info.value
    assert err.code is FlowErrorCode.NODE_EXCEPTION
    assert (err.node_name, err.trace_id, err.attempts) == ("always", m.trace_id, 2)
    assert isinstance(err.__cause__, ValueError)
    assert flaky.attempts == 2


async def test_payload_only_failure_reaches_unscoped_fetch():
    node = Node(simulate_error("boom", fail_times=5), name="boom")
    flow = create(node)
    flow.run()
    try:
        await flow.emit("x")
        with pytest.raises(FlowError, match="boom"):
            await flow.fetch(timeout=2)
    finally:
        await flow.stop()


async def test_timeout_cancels_the_running_attempt_and_retries():
    cancelled = []
    calls = []

    async def slow(m, ctx):
        calls.append(1)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        return m

    node = Node(slow, name="slow", policy=NodePolicy(timeout_s=0.02, max_retries=1, backoff_base=0))
    flow = create(node)
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=5)
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.NODE_TIMEOUT
    assert len(calls) == 2 and len(cancelled) == 2


async def test_same_trace_in_order_while_other_traces_run_concurrently():
    order = []
    release_slow = asyncio.Event()

    async def work(m, ctx):
        if m.payload == "slow":
            await release_slow.wait()
        order.append((m.trace_id, m.payload))
        return m

    node = Node(work, name="w", policy=NodePolicy(max_concurrency=4))
    flow = create(node)
    flow.run()
    try:
        await flow.emit(msg("slow", trace_id="A"))
        await flow.emit(msg("second", trace_id="A"))
        await flow.emit(msg("fast", trace_id="B"))
        fast = await flow.fetch(trace_id="B", timeout=2)
        assert fast.payload == "fast"
        assert order == [("B", "fast")]  # A's second message waits behind A's first
        release_slow.set()
        assert (await flow.fetch(trace_id="A", timeout=2)).payload == "slow"
        assert (await flow.fetch(trace_id="A", timeout=2)).payload == "second"
        assert order == [("B", "fast"), ("A", "slow"), ("A", "second")]
    finally:
        await flow.stop()


async def test_max_concurrency_bounds_parallel_attempts():
    running = 0
    peak = 0

    async def work(m, ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return m

    flow = create(Node(work, name="w", policy=NodePolicy(max_concurrency=3)))
    flow.run()
    try:
        ids = [f"t{i}" for i in range(12)]
        for tid in ids:
            await flow.emit(msg(tid, trace_id=tid))
        for tid in ids:
            await flow.fetch(trace_id=tid, timeout=5)
    finally:
        await flow.stop()
    assert peak == 3


async def test_bounded_queue_applies_backpressure_to_emit():
    gate = asyncio.Event()

    async def blocked(m, ctx):
        await gate.wait()
        return m

    flow = create(Node(blocked, name="n", policy=NodePolicy(max_concurrency=1)), queue_maxsize=2)
    flow.run()
    try:
        for i in range(3):  # one running, two queued
            await flow.emit(i)
        await asyncio.sleep(0.01)
        fourth = asyncio.create_task(flow.emit(3))
        await asyncio.sleep(0.01)
        assert not fourth.done()
        gate.set()
        await asyncio.wait_for(fourth, 2)
        assert [await flow.fetch(timeout=2) for _ in range(4)] == [0, 1, 2, 3]
    finally:
        await flow.stop()


async def test_trace_capacity_waits_and_never_drops():
    async def echo(m, ctx):
        return m

    flow = create(Node(echo, name="e"), trace_capacity=2)
    flow.run()
    try:
        await flow.emit(msg(0, trace_id="T"))
        await flow.emit(msg(1, trace_id="T"))
        third = asyncio.create_task(flow.emit(msg(2, trace_id="T")))
        await asyncio.sleep(0.02)
        assert not third.done()  # two unread results hold the trace's capacity
        other = msg(9, trace_id="U")
        await asyncio.wait_for(flow.emit(other), 1)  # other traces are not blocked
        assert (await flow.fetch(trace_id="U", timeout=1)).payload == 9
        got = [(await flow.fetch(trace_id="T", timeout=1)).payload]
        await asyncio.wait_for(third, 1)
        got += [(await flow.fetch(trace_id="T", timeout=1)).payload for _ in range(2)]
        assert got == [0, 1, 2]
    finally:
        await flow.stop()


async def test_unread_results_of_one_trace_never_block_another():
    async def echo(m, ctx):
        return m

    flow = create(Node(echo, name="e"), queue_maxsize=1, trace_capacity=1)
    flow.run()
    try:
        await flow.emit(msg("unread", trace_id="A"))
        for i in range(20):
            m = msg(i, trace_id=f"B{i}")
            await asyncio.wait_for(flow.emit(m), 1)
            assert (await flow.fetch(trace_id=m.trace_id, timeout=1)).payload == i
        assert (await flow.fetch(trace_id="A", timeout=1)).payload == "unread"
    finally:
        await flow.stop()


async def test_worker_pool_never_shrinks_to_zero_with_work_queued():
    # Regression: surplus workers used to exit together and strand queued messages.
    async def echo(m, ctx):
        return m

    flow = create(Node(echo, name="e"), queue_maxsize=8)
    flow.run()
    try:
        messages = [msg(i, trace_id=f"t{i}") for i in range(300)]

        async def produce():
            for m in messages:
                await flow.emit(m)

        producer = asyncio.create_task(produce())
        got = [await flow.fetch(timeout=2) for _ in messages]
        await producer
        assert sorted(r.payload for r in got) == list(range(300))
    finally:
        await flow.stop()


async def test_ctx_emit_nowait_to_rookery_respects_trace_capacity():
    outcomes = []
    done = asyncio.Event()

    async def chatty(m, ctx):
        for i in range(3):
            try:
                ctx.emit_nowait(m.model_copy(update={"payload": i}))
                outcomes.append("sent")
            except QueueFullError:
                outcomes.append("full")
        done.set()
        return None

    flow = create(Node(chatty, name="chatty"), trace_capacity=2)
    flow.run()
    try:
        m = msg("go", trace_id="T")
        await flow.emit(m)
        await asyncio.wait_for(done.wait(), 1)  # nobody fetches while the node emits
        got = [(await flow.fetch(trace_id="T", timeout=1)).payload for _ in range(2)]
    finally:
        await flow.stop()
    assert outcomes == ["sent", "sent", "full"]
    assert got == [0, 1]
