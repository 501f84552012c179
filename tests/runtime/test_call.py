import asyncio

import pytest
from runtime_helpers import msg

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Node,
    NodePolicy,
    StreamChunk,
    TraceCancelled,
    create,
)
from penguiflow.errors import ConfigError, FlowStateError, UnknownTargetError


async def double(m, ctx):
    return m.model_copy(update={"payload": m.payload * 2})


async def test_call_returns_the_result_in_the_calling_task():
    seen_tasks = []

    async def where(m, ctx):
        seen_tasks.append(asyncio.current_task())
        return m

    flow = create(Node(where, name="w"))
    flow.run()
    try:
        result = await flow.call(msg(3), to="w")
        assert result.payload == 3
        assert seen_tasks == [asyncio.current_task()]  # ran inline, no worker task
        assert flow.stats().traces == 0
    finally:
        await flow.stop()


async def test_call_applies_policies_retries_and_events():
    attempts = []
    events = []

    async def flaky(m, ctx):
        attempts.append(1)
        if len(attempts) < 2:
            raise RuntimeError("first try fails")
        return m

    async def record(e):
        events.append(e.event_type)

    node = Node(flaky, name="f", policy=NodePolicy(max_retries=1, backoff_base=0))
    flow = create(node, middlewares=[record])
    flow.run()
    try:
        assert (await flow.call(msg("x"), to="f")).payload == "x"
    finally:
        await flow.stop()
    assert len(attempts) == 2
    assert events == ["node_start", "node_error", "node_retry", "node_start", "node_success"]


async def test_call_failure_and_timeout_policy_raise_flow_error():
    async def boom(m, ctx):
        raise ValueError("nope")

    async def slow(m, ctx):
        await asyncio.sleep(10)

    flow = create(
        Node(boom, name="boom"), Node(slow, name="slow", policy=NodePolicy(timeout_s=0.02))
    )
    flow.run()
    try:
        with pytest.raises(FlowError) as info:
            await flow.call(msg(1), to="boom")
        assert info.value.code is FlowErrorCode.NODE_EXCEPTION
        with pytest.raises(FlowError) as info:
            await flow.call(msg(1), to="slow")
        assert info.value.code is FlowErrorCode.NODE_TIMEOUT
    finally:
        await flow.stop()


async def test_cancelling_the_trace_during_an_inline_call_raises_trace_cancelled():
    started = asyncio.Event()

    async def slow(m, ctx):
        started.set()
        await asyncio.sleep(10)

    flow = create(Node(slow, name="slow"))
    flow.run()
    try:
        m = msg(1)
        caller = asyncio.create_task(flow.call(m, to="slow"))
        await started.wait()
        await flow.cancel(m.trace_id)
        with pytest.raises(TraceCancelled):
            await asyncio.wait_for(caller, 2)
        assert not caller.cancelled()
    finally:
        await flow.stop()


async def test_cancelling_the_caller_propagates_and_cleans_up():
    started = asyncio.Event()

    async def slow(m, ctx):
        started.set()
        await asyncio.sleep(10)

    flow = create(Node(slow, name="slow", policy=NodePolicy(max_concurrency=1)))
    flow.run()
    try:
        caller = asyncio.create_task(flow.call(msg(1), to="slow"))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert flow.stats().traces == 0
        started.clear()
        # the slot was released: a new call runs again
        other = asyncio.create_task(flow.call(msg(2), to="slow"))
        await asyncio.wait_for(started.wait(), 1)
        other.cancel()
        with pytest.raises(asyncio.CancelledError):
            await other
    finally:
        await flow.stop()


async def test_call_timeout_cancels_the_trace():
    cancelled = []

    async def slow(m, ctx):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    flow = create(Node(slow, name="slow"))
    flow.run()
    try:
        with pytest.raises(TimeoutError):
            await flow.call(msg(1), to="slow", timeout=0.02)
        assert cancelled == [1]
        assert flow.stats().traces == 0
    finally:
        await flow.stop()


async def test_saturated_node_queues_the_call_instead_of_running_inline():
    gate = asyncio.Event()
    order = []

    async def gated(m, ctx):
        order.append(m.payload)
        await gate.wait()
        return m

    flow = create(Node(gated, name="g", policy=NodePolicy(max_concurrency=1)))
    flow.run()
    try:
        first = asyncio.create_task(flow.call(msg("a"), to="g"))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(flow.call(msg("b"), to="g"))
        await asyncio.sleep(0.01)
        assert order == ["a"]  # the second call waits for the only slot
        gate.set()
        assert [(await first).payload, (await second).payload] == ["a", "b"]
    finally:
        await flow.stop()


async def test_stop_during_an_inline_call_raises_flow_state_error():
    started = asyncio.Event()

    async def slow(m, ctx):
        started.set()
        await asyncio.sleep(10)

    flow = create(Node(slow, name="slow"))
    flow.run()
    caller = asyncio.create_task(flow.call(msg(1), to="slow"))
    await started.wait()
    await flow.stop()
    with pytest.raises(FlowStateError):
        await asyncio.wait_for(caller, 2)


async def test_call_returns_the_first_chunk_and_the_rest_can_be_fetched():
    async def speaker(m, ctx):
        await ctx.emit_chunk(parent=m, text="hi")
        return m.model_copy(update={"payload": "done"})

    flow = create(Node(speaker, name="s"))
    flow.run()
    try:
        m = msg("go")
        first = await flow.call(m, to="s")
        assert isinstance(first.payload, StreamChunk)
        assert (await flow.fetch(trace_id=m.trace_id, timeout=1)).payload == "done"
    finally:
        await flow.stop()


async def test_call_needs_an_envelope_and_an_ingress_node():
    a, b = Node(double, name="a"), Node(double, name="b")
    flow = create(a.to(b))
    flow.run()
    try:
        with pytest.raises(ConfigError, match="Message envelope"):
            await flow.call(3, to="a")  # type: ignore[arg-type]
        with pytest.raises(Exception, match="not an ingress node"):
            await flow.call(msg(1), to="b")
        # a node with successors is not run inline but still works through the queues
        assert (await flow.call(msg(2), to="a", timeout=1)).payload == 8
    finally:
        await flow.stop()


async def test_inline_call_may_stream_more_chunks_than_the_trace_capacity():
    # The node runs in the caller, the only reader of its chunks: waiting for room in
    # Rookery would never end, so an inline call never waits for it.
    async def chatty(m, ctx):
        for i in range(20):
            await ctx.emit_chunk(parent=m, text=str(i))
        return m.model_copy(update={"payload": "done"})

    flow = create(Node(chatty, name="chatty"), trace_capacity=4)
    flow.run()
    try:
        m = msg("go")
        first = await asyncio.wait_for(flow.call(m, to="chatty"), 2)
        assert first.payload.text == "0"
        rest = [await flow.fetch(trace_id=m.trace_id, timeout=1) for _ in range(20)]
        assert [r.payload.text for r in rest[:-1]] == [str(i) for i in range(1, 20)]
        assert rest[-1].payload == "done"
    finally:
        await flow.stop()


async def test_an_unscoped_fetch_does_not_take_the_result_of_an_inline_call():
    flow = create(Node(double, name="d"))
    flow.run()
    try:
        waiting = asyncio.create_task(flow.fetch())
        await asyncio.sleep(0)
        assert (await asyncio.wait_for(flow.call(msg(2), to="d"), 1)).payload == 4
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await flow.stop()


async def test_a_bound_caller_behaves_as_call():
    a, b = Node(double, name="a"), Node(double, name="b")
    flow = create(a.to(b), Node(double, name="solo"))
    call_solo = flow.caller("solo")
    with pytest.raises(FlowStateError, match=r"flow\.run\(\)"):
        await call_solo(msg(1))
    flow.run()
    try:
        assert (await call_solo(msg(5))).payload == 10
        assert (await flow.caller(a)(msg(2))).payload == 8  # through b, via the queues
        with pytest.raises(ConfigError, match="Message envelope"):
            await call_solo(3)  # type: ignore[arg-type]
        with pytest.raises(Exception, match="not an ingress node"):
            flow.caller("b")
        with pytest.raises(Exception, match="not a node of this flow"):
            flow.caller(Node(double, name="solo"))  # same name, another node
        with pytest.raises(UnknownTargetError, match="several ingress nodes"):
            flow.caller()  # a and solo: which one?
    finally:
        await flow.stop()
    with pytest.raises(FlowStateError):
        await call_solo(msg(1))


async def test_a_caller_without_a_node_binds_the_only_ingress_node():
    entry = Node(double, name="entry")
    flow = create(entry.to(Node(double, name="next")))
    flow.run()
    try:
        assert (await flow.caller()(msg(3))).payload == 12
    finally:
        await flow.stop()
