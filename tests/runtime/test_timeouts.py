"""Timeouts and deadlines: each message gets its own, and only its own cancels count."""

import asyncio
import time

import pytest
from runtime_helpers import msg

from penguiflow import FlowError, FlowErrorCode, Node, NodePolicy, create


async def test_concurrent_messages_each_get_their_own_deadline():
    async def work(m, ctx):
        await asyncio.sleep(m.payload)
        return m

    flow = create(Node(work, name="w", policy=NodePolicy(max_concurrency=8)))
    flow.run()
    now = time.time()
    # (work seconds, deadline in seconds from now): only the second and fourth run late
    plan = {"a": (0.01, 0.6), "b": (0.3, 0.05), "c": (0.02, 5), "d": (5, 0.1)}
    try:
        for tid, (work_s, deadline_in) in plan.items():
            await flow.emit(msg(work_s, trace_id=tid, deadline_s=now + deadline_in))
        outcomes = {}
        for tid in plan:
            try:
                outcomes[tid] = (await flow.fetch(trace_id=tid, timeout=2)).payload
            except FlowError as exc:
                outcomes[tid] = exc.code
    finally:
        await flow.stop()
    assert outcomes == {
        "a": 0.01,
        "b": FlowErrorCode.DEADLINE_EXCEEDED,
        "c": 0.02,
        "d": FlowErrorCode.DEADLINE_EXCEEDED,
    }


async def test_a_timeout_the_node_raises_itself_is_a_node_exception():
    async def gives_up(m, ctx):
        raise TimeoutError("upstream took too long")

    node = Node(gives_up, name="g", policy=NodePolicy(timeout_s=5))
    flow = create(node)
    flow.run()
    try:
        with pytest.raises(FlowError) as info:
            await flow.call(msg(1), to="g")
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.NODE_EXCEPTION
    assert "upstream took too long" in info.value.message


async def test_a_timed_out_attempt_is_reported_as_a_node_timeout():
    events = []

    async def record(event):
        events.append((event.event_type, event.error))

    async def slow(m, ctx):
        await asyncio.sleep(5)

    flow = create(Node(slow, name="slow", policy=NodePolicy(timeout_s=0.02)), middlewares=[record])
    flow.run()
    try:
        with pytest.raises(FlowError) as info:
            await flow.call(msg(1), to="slow")
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.NODE_TIMEOUT
    assert ("node_timeout", "timed out after 0.02s") in events


async def test_cancelling_a_caller_under_a_node_timeout_is_a_cancel_not_a_timeout():
    started = asyncio.Event()

    async def slow(m, ctx):
        started.set()
        await asyncio.sleep(5)

    flow = create(Node(slow, name="slow", policy=NodePolicy(timeout_s=2, max_retries=2)))
    flow.run()
    try:
        caller = asyncio.create_task(flow.call(msg(1), to="slow"))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert flow.stats().traces == 0
    finally:
        await flow.stop()


async def test_a_node_that_swallows_its_timeout_returns_its_value_and_the_worker_goes_on():
    async def stubborn(m, ctx):
        if m.payload == "stubborn":
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                return m.model_copy(update={"payload": "swallowed"})
        await asyncio.sleep(0.01)  # a later message must not be hit by a stray cancel
        return m

    node = Node(stubborn, name="s", policy=NodePolicy(timeout_s=0.02, max_concurrency=1))
    flow = create(node)
    flow.run()
    try:
        await flow.emit(msg("stubborn", trace_id="A"))
        await flow.emit(msg("next", trace_id="B"))
        assert (await flow.fetch(trace_id="A", timeout=2)).payload == "swallowed"
        assert (await flow.fetch(trace_id="B", timeout=2)).payload == "next"
    finally:
        await flow.stop()


async def test_a_retry_that_would_end_after_the_deadline_is_not_started():
    attempts = []

    async def flaky(m, ctx):
        attempts.append(time.time())
        raise RuntimeError("down")

    policy = NodePolicy(max_retries=3, backoff_base=1.0)
    flow = create(Node(flaky, name="f", policy=policy))
    flow.run()
    try:
        m = msg(1, deadline_s=time.time() + 0.3)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED
    assert len(attempts) == 1  # the 1 s backoff would pass the deadline: no second attempt
