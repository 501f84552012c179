"""Memory on the real SQL session store (SQLite files)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _memory_support import ScriptedSummarizer, ids, key, no_sleep, turn

from penguiflow.memory import MemoryBudget, ShortTermMemory, ShortTermMemoryConfig
from penguiflow.memory.turns import Turn
from penguiflow.sessions.errors import StaleVersionError

sessions = pytest.importorskip("penguiflow.sessions")

TRUNCATION = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=50))


class CountingStore:
    """Passes calls to a real store and counts its version conflicts."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.conflicts = 0

    async def load_memory(self, key: Any) -> tuple[dict[str, Any] | None, int]:
        result: tuple[dict[str, Any] | None, int] = await self.inner.load_memory(key)
        return result

    async def save_memory(self, key: Any, state: dict[str, Any], *, expected_version: int) -> int:
        try:
            version: int = await self.inner.save_memory(
                key, state, expected_version=expected_version
            )
        except StaleVersionError:
            self.conflicts += 1
            raise
        return version


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'memory.sqlite3'}"


async def test_memory_survives_a_process_style_restart(url: str) -> None:
    config = ShortTermMemoryConfig(
        strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=2)
    )
    async with sessions.SqlSessionStore(url) as store:
        llm = ScriptedSummarizer("The user's name is Ada; she lives in Lisbon.")
        async with ShortTermMemory(
            config, key=key(), store=store, summarizer=llm, sleep=no_sleep
        ) as memory:
            await memory.add_turn(Turn(user="I am Ada from Lisbon.", assistant="Hi Ada!"))
            await memory.add_turn(turn(1))
            await memory.add_turn(turn(2))
    # A new store object and a new memory: as after a restart.
    async with sessions.SqlSessionStore(url) as store:
        async with ShortTermMemory(
            config, key=key(), store=store, summarizer=ScriptedSummarizer()
        ) as memory:
            context = await memory.get_llm_context()
    assert "Ada" in context.text and "Lisbon" in context.text
    assert ids(context.turns) == ids(memory.turns)
    assert memory.version >= 3


async def test_two_stores_writing_one_session_lose_nothing(url: str) -> None:
    async with sessions.SqlSessionStore(url) as setup:
        await setup.load_memory(key())
    async with sessions.SqlSessionStore(url) as one, sessions.SqlSessionStore(url) as two:
        first, second = CountingStore(one), CountingStore(two)
        a = ShortTermMemory(TRUNCATION, key=key(), store=first, sleep=no_sleep)
        b = ShortTermMemory(TRUNCATION, key=key(), store=second, sleep=no_sleep)
        await a.load()
        await b.load()

        async def write(memory: ShortTermMemory, tag: str) -> list[str]:
            return [(await memory.add_turn(turn(i, meta={"w": tag}))).id for i in range(6)]

        from_a, from_b = await asyncio.gather(write(a, "a"), write(b, "b"))
        await a.aclose()
        await b.aclose()
        async with ShortTermMemory(TRUNCATION, key=key(), store=one) as reader:
            stored = ids(reader.turns)
    assert sorted(stored) == sorted(from_a + from_b)
    assert first.conflicts + second.conflicts > 0  # the writers really raced


async def test_tenants_are_isolated_in_sql(url: str) -> None:
    async with sessions.SqlSessionStore(url) as store:
        for tenant in ("acme", "globex"):
            async with ShortTermMemory(TRUNCATION, key=key(tenant=tenant), store=store) as m:
                await m.add_turn(Turn(user=f"secret of {tenant}", assistant="ok"))
        async with ShortTermMemory(TRUNCATION, key=key(tenant="acme"), store=store) as m:
            text = (await m.get_llm_context()).text
        async with ShortTermMemory(TRUNCATION, key=key(tenant="initech"), store=store) as m:
            empty = await m.get_llm_context()
    assert "secret of acme" in text and "globex" not in text
    assert empty.is_empty
