from __future__ import annotations

import asyncio

import pytest
from _memory_support import Events, ScriptedSummarizer, key, no_sleep, turn

from penguiflow.memory import (
    InMemoryMemoryStore,
    MemoryBudget,
    ShortTermMemoryConfig,
    ShortTermMemoryPool,
)
from penguiflow.memory.errors import MemoryClosedError, MemoryConfigError

CONFIG = ShortTermMemoryConfig(strategy="truncation")


async def test_one_memory_per_key_refreshed_from_the_store() -> None:
    store = InMemoryMemoryStore()
    async with ShortTermMemoryPool(CONFIG, store=store) as pool:
        first = await pool.acquire(key())
        assert await pool.acquire(key()) is first
        assert await pool.acquire(key("other")) is not first
        # Another process writes to the same session...
        async with ShortTermMemoryPool(CONFIG, store=store) as elsewhere:
            remote = await elsewhere.acquire(key())
            await remote.add_turn(turn(7))
        # ...and the next run here sees it.
        again = await pool.acquire(key())
        assert [t.user for t in again.turns] == [turn(7).user]


async def test_default_store_keeps_memory_between_runs() -> None:
    async with ShortTermMemoryPool(CONFIG, max_open=1) as pool:
        memory = await pool.acquire(key("a"))
        await memory.add_turn(turn(1))
        await pool.acquire(key("b"))  # evicts and closes a's memory
        assert memory.closed
        assert len(pool) == 1
        reopened = await pool.acquire(key("a"))
        assert reopened is not memory
        assert len(reopened.turns) == 1


async def test_aclose_waits_for_background_summaries() -> None:
    llm = ScriptedSummarizer("pool summary")
    llm.gate = asyncio.Event()
    events = Events()
    config = ShortTermMemoryConfig(
        strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=1)
    )
    pool = ShortTermMemoryPool(config, summarizer=llm, event_callback=events, sleep=no_sleep)
    memory = await pool.acquire(key())
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await asyncio.wait_for(llm.started.wait(), 5)
    closing = asyncio.create_task(pool.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    llm.gate.set()
    await closing
    assert memory.closed and memory.summary == "pool summary"
    assert events.types()[-1] == "memory_summary_finished"
    stored, _ = await pool.store.load_memory(key())
    assert stored is not None and stored["summary"] == "pool summary"
    with pytest.raises(MemoryClosedError):
        await pool.acquire(key())
    await pool.aclose()


async def test_busy_memories_are_not_evicted() -> None:
    llm = ScriptedSummarizer()
    llm.gate = asyncio.Event()
    config = ShortTermMemoryConfig(
        strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=1)
    )
    async with ShortTermMemoryPool(config, summarizer=llm, max_open=1, sleep=no_sleep) as pool:
        busy = await pool.acquire(key("a"))
        await busy.add_turn(turn(0))
        await busy.add_turn(turn(1))
        await pool.acquire(key("b"))
        assert not busy.closed and len(pool) == 2
        llm.gate.set()
        await pool.flush()
        assert busy.pending == ()


def test_pool_size_is_checked() -> None:
    with pytest.raises(MemoryConfigError, match="max_open must be >= 1, got 0"):
        ShortTermMemoryPool(CONFIG, max_open=0)
