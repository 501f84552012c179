import asyncio
import time

import pytest
from runtime_helpers import msg

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Node,
    NodePolicy,
    TraceCancelled,
    create,
    join_k,
)


async def test_cancel_drops_queued_work_and_cancels_running_attempts():
    started = asyncio.Event()
    cancelled = []
    processed = []

    async def slow(m, ctx):
        processed.append(m.payload)
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(m.payload)
            raise
        return m

    async def quick(m, ctx):
        return m

    node = Node(slow, name="slow", policy=NodePolicy(max_concurrency=2))
    flow = create(node)
    flow.run()
    try:
        await flow.emit(msg(1, trace_id="T"))
        await flow.emit(msg(2, trace_id="T"))  # queued behind 1 in T's lane
        await started.wait()
        fetcher = asyncio.create_task(flow.fetch(trace_id="T"))
        await asyncio.sleep(0)
        assert await flow.cancel("T") is True
        with pytest.raises(TraceCancelled):
            await asyncio.wait_for(fetcher, 1)
        with pytest.raises(TraceCancelled):  # a late fetch returns promptly too
            await flow.fetch(trace_id="T", timeout=1)
        assert cancelled == [1] and processed == [1]
        assert await flow.cancel("unknown") is False
        # the worker survived the cancel and serves other traces
        started.clear()
        m = msg(3, trace_id="U")
        await flow.emit(m)
        await started.wait()
        assert await flow.cancel("U")
    finally:
        await flow.stop()


async def test_cancelled_trace_id_can_be_reused_later():
    async def echo(m, ctx):
        return m

    flow = create(Node(echo, name="e"))
    flow.run()
    try:
        await flow.emit(msg(1, trace_id="R"))
        await flow.cancel("R")
        with pytest.raises(TraceCancelled):
            await flow.fetch(trace_id="R", timeout=1)
        await flow.emit(msg(2, trace_id="R"))
        assert (await flow.fetch(trace_id="R", timeout=1)).payload == 2
    finally:
        await flow.stop()


async def test_expired_message_is_skipped_with_one_terminal_error():
    calls = []
    events = []

    async def record(e):
        events.append(e.event_type)

    async def fan(m, ctx):
        calls.append("fan")
        return m

    async def branch(m, ctx):
        calls.append("branch")
        return m

    f, b1, b2 = Node(fan, name="fan"), Node(branch, name="b1"), Node(branch, name="b2")
    flow = create(f.to(b1, b2), middlewares=[record])
    flow.run()
    try:
        m = msg(1, deadline_s=time.time() - 1)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=1)
        assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED
        with pytest.raises(TimeoutError):  # exactly one terminal result
            await flow.fetch(trace_id=m.trace_id, timeout=0.05)
    finally:
        await flow.stop()
    assert calls == []
    assert "deadline_skip" in events


async def test_deadline_cancels_a_running_attempt_without_retry():
    attempts = []

    async def slow(m, ctx):
        attempts.append(1)
        await asyncio.sleep(10)

    node = Node(slow, name="slow", policy=NodePolicy(timeout_s=5, max_retries=3))
    flow = create(node)
    flow.run()
    try:
        m = msg(1, deadline_s=time.time() + 0.05)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED
    assert info.value.node_name == "slow"
    assert attempts == [1]


async def test_join_k_joins_and_frees_buckets_on_cancel_and_failure():
    async def fan(m, ctx):
        return m

    async def branch(m, ctx):
        if m.payload == "fail":
            raise RuntimeError("branch down")
        if m.payload == "hang":
            await asyncio.sleep(10)
        return m

    async def other(m, ctx):
        return m

    src = Node(fan, name="src")
    b1, b2 = Node(branch, name="b1"), Node(other, name="b2")
    join = join_k("join", 2)
    flow = create(src.to(b1, b2), b1.to(join), b2.to(join), join.to())
    flow.run()
    try:
        ok = msg("go")
        await flow.emit(ok)
        assert (await flow.fetch(trace_id=ok.trace_id, timeout=1)).payload == ["go", "go"]
        assert join.open_buckets == 0

        failing = msg("fail")
        await flow.emit(failing)
        with pytest.raises(FlowError, match="branch down"):
            await flow.fetch(trace_id=failing.trace_id, timeout=1)
        await asyncio.sleep(0.01)
        assert join.open_buckets == 0

        hanging = msg("hang")
        await flow.emit(hanging)
        await asyncio.sleep(0.02)
        assert join.open_buckets == 1  # b2 arrived, b1 hangs
        await flow.cancel(hanging.trace_id)
        assert join.open_buckets == 0
    finally:
        await flow.stop()
