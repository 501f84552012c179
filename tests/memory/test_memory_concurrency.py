from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _memory_support import ScriptedSummarizer, SlowStore, ids, key, no_sleep, turn

from penguiflow.memory import (
    InMemoryMemoryStore,
    MemoryBudget,
    MemoryKey,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from penguiflow.memory.errors import MemoryConflictError, MemoryStoreError

BIG_ZONE = ShortTermMemoryConfig(
    strategy="truncation", budget=MemoryBudget(full_zone_turns=100, total_max_tokens=50_000)
)


async def test_two_writers_of_one_session_lose_no_turns() -> None:
    store = SlowStore()
    a = ShortTermMemory(BIG_ZONE, key=key(), store=store, sleep=no_sleep)
    b = ShortTermMemory(BIG_ZONE, key=key(), store=store, sleep=no_sleep)
    await a.load()
    await b.load()

    async def write(memory: ShortTermMemory, tag: str) -> list[str]:
        added = []
        for i in range(10):
            added.append((await memory.add_turn(turn(i, meta={"writer": tag}))).id)
        return added

    from_a, from_b = await asyncio.gather(write(a, "a"), write(b, "b"))
    assert store.conflicts > 0  # the writers really raced
    async with ShortTermMemory(BIG_ZONE, key=key(), store=store) as reader:
        stored = ids(reader.turns)
    assert sorted(stored) == sorted(from_a + from_b)
    # Each writer's turns keep their own order.
    assert [i for i in stored if i in from_a] == from_a
    assert [i for i in stored if i in from_b] == from_b
    await a.aclose()
    await b.aclose()


async def test_many_writers_with_rolling_summary_account_for_every_turn() -> None:
    store = SlowStore()
    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=3),
        max_pending_turns=1000,
        max_conflict_retries=100,
    )
    llm = ScriptedSummarizer()
    writers = [
        ShortTermMemory(config, key=key(), store=store, summarizer=llm, sleep=no_sleep)
        for _ in range(4)
    ]

    async def write(memory: ShortTermMemory) -> None:
        for i in range(8):
            await memory.add_turn(turn(i))

    await asyncio.gather(*(write(w) for w in writers))
    for writer in writers:
        await writer.aclose()
    data, _ = await store.load_memory(key())
    assert data is not None
    held = len(data["pending"]) + len(data["recent"])
    assert data["dropped_turns"] == 0
    assert data["summarized_turns"] + held == 32
    assert len(data["recent"]) == 3
    assert store.conflicts > 0


async def test_stale_summary_is_discarded_not_written_over_a_newer_one() -> None:
    store = InMemoryMemoryStore()
    config = ShortTermMemoryConfig(
        strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=1)
    )
    slow = ScriptedSummarizer("stale summary")
    slow.gate = asyncio.Event()
    fast = ScriptedSummarizer("fresh summary")
    a = ShortTermMemory(config, key=key(), store=store, summarizer=slow, sleep=no_sleep)
    b = ShortTermMemory(config, key=key(), store=store, summarizer=fast, sleep=no_sleep)
    await a.add_turn(turn(0))
    await a.add_turn(turn(1))  # turn 0 -> pending, a starts summarising (blocked)
    await asyncio.wait_for(slow.started.wait(), 5)
    await b.load()  # b sees turn 0 pending and summarises it first
    await b.flush()
    assert b.summary == "fresh summary"
    slow.gate.set()
    await a.flush()
    await a.aclose()
    await b.aclose()
    data, _ = await store.load_memory(key())
    assert data is not None and data["summary"] == "fresh summary"
    assert data["pending"] == []


async def test_endless_conflicts_give_up_with_a_clear_error() -> None:
    class AlwaysConflicts(InMemoryMemoryStore):
        async def save_memory(
            self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
        ) -> int:
            expected = expected_version
            raise MemoryConflictError(key=str(key), expected_version=expected, actual_version=7)

    config = ShortTermMemoryConfig(strategy="truncation", max_conflict_retries=3)
    async with ShortTermMemory(config, key=key(), store=AlwaysConflicts(), sleep=no_sleep) as m:
        with pytest.raises(MemoryStoreError, match=r"still conflicting .* after 3 retries"):
            await m.add_turn(turn(1))


async def test_session_store_stale_version_error_counts_as_conflict() -> None:
    errors = pytest.importorskip("penguiflow.sessions.errors")

    class SqlLikeStore(InMemoryMemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.raised = 0

        async def save_memory(
            self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
        ) -> int:
            expected = expected_version
            try:
                return await super().save_memory(key, state, expected_version=expected)
            except MemoryConflictError as exc:
                self.raised += 1
                raise errors.StaleVersionError(
                    entity="memory", key=str(key), expected=expected, actual=exc.actual_version
                ) from None

    store = SqlLikeStore()
    a = ShortTermMemory(BIG_ZONE, key=key(), store=store, sleep=no_sleep)
    b = ShortTermMemory(BIG_ZONE, key=key(), store=store, sleep=no_sleep)
    await a.load()
    await b.load()
    first = await a.add_turn(turn(1))
    second = await b.add_turn(turn(2))  # b's version is stale -> StaleVersionError -> merge
    assert store.raised == 1
    assert ids(b.turns) == [first.id, second.id]
    await a.aclose()
    await b.aclose()
