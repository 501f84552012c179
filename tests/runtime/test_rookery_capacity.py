"""The flow-wide bound on unread results (``rookery_capacity``).

A flood of traces read by a slow fetcher holds at most the bound, and memory does not
grow with the number of messages; ``emit`` waits at the bound and ``emit_nowait`` raises;
a ``flow.call`` caller and a fetcher reading by trace id are never stuck behind it.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from runtime_helpers import msg

from penguiflow import Node, NodePolicy, QueueFullError, create
from penguiflow.errors import ConfigError, FlowStateError
from penguiflow.flow import PenguiFlow


async def echo(m: Any, ctx: Any) -> Any:
    return m


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop turn until ``condition()`` holds (at most 1,000 turns)."""
    for _ in range(1_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the flow never reached the expected state")


async def flood(flow: PenguiFlow, count: int) -> int:
    """Emit ``count`` traces and read them all with a slow fetcher; the deepest Rookery seen."""

    async def produce() -> None:
        for i in range(count):
            await flow.emit(msg(i, trace_id=f"t{i}"))

    producer = asyncio.create_task(produce())
    deepest = total = 0  # nothing kept per message: memory is measured around this
    async with asyncio.timeout(60):
        for _ in range(count):
            for _ in range(8):  # the fetcher is slower than the node
                await asyncio.sleep(0)
            deepest = max(deepest, flow.stats().rookery_depth)
            total += (await flow.fetch()).payload
        await producer
    assert total == count * (count - 1) // 2  # every message came out once
    return deepest


async def test_a_flood_read_by_a_slow_fetcher_holds_at_most_the_bound() -> None:
    flow = create(Node(echo, name="e"), rookery_capacity=50)
    flow.run()
    try:
        deepest = await flood(flow, 2_000)
        stats = flow.stats()
    finally:
        await flow.stop()
    assert stats.rookery_capacity == 50
    assert stats.rookery_peak == 50 and deepest == 50  # reached, never passed
    assert stats.rookery_depth == 0


async def flood_memory(count: int) -> int:
    flow = create(Node(echo, name="e"), rookery_capacity=50)
    flow.run()
    gc.collect()
    tracemalloc.start()
    try:
        await flood(flow, count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await flow.stop()
    return peak


async def test_memory_does_not_grow_with_the_number_of_messages() -> None:
    small = await flood_memory(1_000)
    large = await flood_memory(4_000)
    assert large < small * 1.5, (small, large)


async def test_without_a_bound_the_flood_piles_up() -> None:
    flow = create(Node(echo, name="e"), rookery_capacity=None)
    flow.run()
    try:
        await flood(flow, 1_000)
        stats = flow.stats()
    finally:
        await flow.stop()
    assert stats.rookery_capacity == 0 and stats.rookery_peak > 50


async def test_emit_waits_at_the_bound_and_emit_nowait_raises() -> None:
    flow = create(Node(echo, name="e"), rookery_capacity=3)
    flow.run()
    try:
        for i in range(3):
            await flow.emit(msg(i, trace_id=f"t{i}"))
        await until(lambda: flow.stats().rookery_depth == 3)
        with pytest.raises(QueueFullError, match=r"holds 3 unread results \(rookery_capacity\)"):
            flow.emit_nowait(msg(3, trace_id="t3"))
        waiting = asyncio.create_task(flow.emit(msg(3, trace_id="t3")))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        assert (await flow.fetch(trace_id="t0", timeout=1)).payload == 0
        await asyncio.wait_for(waiting, 1)
        assert (await flow.fetch(trace_id="t3", timeout=1)).payload == 3
        assert flow.stats().rookery_peak == 3
    finally:
        await flow.stop()


async def test_ctx_emit_nowait_raises_at_the_bound() -> None:
    outcomes: list[str] = []

    async def chatty(m: Any, ctx: Any) -> None:
        for i in range(3):
            try:
                ctx.emit_nowait(m.model_copy(update={"payload": i}))
                outcomes.append("sent")
            except QueueFullError as exc:
                outcomes.append(str(exc))

    flow = create(Node(chatty, name="chatty"), rookery_capacity=2)
    flow.run()
    try:
        await flow.emit(msg("go", trace_id="T"))
        await until(lambda: len(outcomes) == 3)
        got = [(await flow.fetch(trace_id="T", timeout=1)).payload for _ in range(2)]
    finally:
        await flow.stop()
    assert outcomes[:2] == ["sent", "sent"] and "rookery_capacity" in outcomes[2]
    assert got == [0, 1]


async def burst(m: Any, ctx: Any) -> None:
    """Three results per message, sent to Rookery one by one."""
    for i in range(3):
        await ctx.emit(m.model_copy(update={"payload": (m.payload, i)}))


async def test_flow_call_is_not_stuck_behind_producers_waiting_for_room() -> None:
    node = Node(burst, name="burst", policy=NodePolicy(max_concurrency=1, validate="none"))
    flow = create(node, queue_maxsize=1, rookery_capacity=2)
    flow.run()
    try:
        await flow.emit(msg("unread", trace_id="A"))
        queued = asyncio.create_task(flow.emit(msg("queued", trace_id="Q")))
        # A's first two results fill Rookery, its third waits in the node's only worker,
        # and Q fills the node's queue: the call below must queue behind both.
        await until(
            lambda: flow.stats().rookery_depth == 2 and flow.stats().nodes["burst"].queue_depth == 1
        )
        await queued
        result = await asyncio.wait_for(flow.call(msg("mine", trace_id="B"), to=node), 5)
        assert result.payload == ("mine", 0)
        for trace in ("A", "Q"):
            got = [(await flow.fetch(trace_id=trace, timeout=1)).payload[1] for _ in range(3)]
            assert got == [0, 1, 2]
    finally:
        await flow.stop()


async def test_a_fetcher_reading_by_trace_id_is_not_stuck_behind_the_bound() -> None:
    gate = asyncio.Event()

    async def first_waits(m: Any, ctx: Any) -> Any:
        if m.payload == 0:
            await gate.wait()
        return m

    first = Node(first_waits, name="first")
    last = Node(echo, name="last", policy=NodePolicy(max_concurrency=2))
    flow = create(first.to(last), last.to(), rookery_capacity=3)
    flow.run()
    count = 10

    async def produce() -> None:
        for i in range(count):
            await flow.emit(msg(i, trace_id=f"t{i}"))

    producer = asyncio.create_task(produce())
    try:
        # Later traces fill Rookery and both workers of the last node wait for room...
        await until(
            lambda: flow.stats().rookery_depth == 3 and flow.stats().nodes["last"].busy == 2
        )
        gate.set()  # ...when t0, which the fetcher reads first, reaches that node.
        async with asyncio.timeout(5):
            got = [(await flow.fetch(trace_id=f"t{i}")).payload for i in range(count)]
            await producer
        assert got == list(range(count))
    finally:
        producer.cancel()
        await flow.stop()


async def test_stop_releases_an_emit_waiting_for_room() -> None:
    flow = create(Node(echo, name="e"), rookery_capacity=1)
    flow.run()
    await flow.emit(msg(0, trace_id="t0"))
    await until(lambda: flow.stats().rookery_depth == 1)
    waiting = asyncio.create_task(flow.emit(msg(1, trace_id="t1")))
    await asyncio.sleep(0)
    await flow.stop()
    with pytest.raises(FlowStateError):
        await asyncio.wait_for(waiting, 1)


async def test_cancelling_a_trace_frees_its_room() -> None:
    flow = create(Node(echo, name="e"), rookery_capacity=2)
    flow.run()
    try:
        await flow.emit(msg("a", trace_id="A"))
        await flow.emit(msg("b", trace_id="B"))
        await until(lambda: flow.stats().rookery_depth == 2)
        waiting = asyncio.create_task(flow.emit(msg("c", trace_id="C")))
        await asyncio.sleep(0)
        assert await flow.cancel("A")
        await asyncio.wait_for(waiting, 1)
        assert (await flow.fetch(trace_id="C", timeout=1)).payload == "c"
    finally:
        await flow.stop()


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10"])
def test_a_bad_rookery_capacity_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"create\(rookery_capacity=\.\.\.\) must be an int >= 1"):
        create(Node(echo, name="e"), rookery_capacity=value)
