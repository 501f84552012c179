from __future__ import annotations

import pytest
from _memory_support import FailingStore, ids, key, turn

from penguiflow.memory import (
    InMemoryMemoryStore,
    MemoryBudget,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from penguiflow.memory.errors import (
    MemoryClosedError,
    MemoryConfigError,
    MemoryStateError,
    MemoryStoreError,
)
from penguiflow.memory.turns import ToolCallRecord, Turn

TRUNCATION = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=3))


async def test_strategy_none_is_a_no_op() -> None:
    store = InMemoryMemoryStore()
    async with ShortTermMemory(ShortTermMemoryConfig(), key=key(), store=store) as memory:
        assert not memory.enabled
        await memory.add_turn(turn(1))
        context = await memory.get_llm_context()
    assert context.is_empty
    assert store.keys() == []


async def test_truncation_keeps_the_last_turns() -> None:
    async with ShortTermMemory(TRUNCATION) as memory:
        added = [await memory.add_turn(turn(i, tools=1)) for i in range(5)]
        context = await memory.get_llm_context()
    assert ids(memory.turns) == ids(added[2:])
    assert memory.pending == ()
    assert memory.dropped_turns == 2
    assert ids(context.turns) == ids(added[2:])
    assert "question 1" not in context.text and "question 4" in context.text
    assert "result 4.0" in context.text  # tool results stay with their turn


async def test_same_turn_twice_is_stored_once() -> None:
    async with ShortTermMemory(TRUNCATION) as memory:
        one = turn(1)
        await memory.add_turn(one)
        await memory.add_turn(one)
    assert ids(memory.turns) == [one.id]


async def test_huge_turn_is_condensed_when_added() -> None:
    config = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(total_max_tokens=200))
    huge = Turn(user="tell me " * 40_000, assistant="ok " * 40_000)
    async with ShortTermMemory(config) as memory:
        stored = await memory.add_turn(huge)
        context = await memory.get_llm_context()
    assert stored.condensed and stored.id == huge.id
    assert memory.token_counter.count(stored.user) < 200
    assert 0 < context.tokens <= 200


async def test_closed_memory_refuses_work() -> None:
    memory = ShortTermMemory(TRUNCATION)
    await memory.aclose()
    await memory.aclose()  # twice is fine
    assert memory.closed
    with pytest.raises(MemoryClosedError, match=r"add_turn\(\) was called after aclose"):
        await memory.add_turn(turn(1))
    with pytest.raises(MemoryClosedError):
        await memory.get_llm_context()
    with pytest.raises(MemoryClosedError):
        await memory.load()


async def test_rolling_summary_needs_a_client() -> None:
    with pytest.raises(MemoryConfigError, match="needs an LLM client"):
        ShortTermMemory(ShortTermMemoryConfig(strategy="rolling_summary"))


async def test_memory_survives_a_restart() -> None:
    store = InMemoryMemoryStore()
    async with ShortTermMemory(TRUNCATION, key=key(), store=store) as first:
        for i in range(4):
            await first.add_turn(turn(i))
        before = await first.get_llm_context()
    async with ShortTermMemory(TRUNCATION, key=key(), store=store) as second:
        after = await second.get_llm_context()
        assert second.version == first.version == 4
        await second.add_turn(turn(9))
    assert after.text == before.text
    assert ids(after.turns) == ids(before.turns)
    assert second.dropped_turns == 2


async def test_tenants_and_users_never_see_each_other() -> None:
    store = InMemoryMemoryStore()
    keys = [
        key("s1", tenant="acme", user="ada"),
        key("s1", tenant="acme", user="bob"),
        key("s1", tenant="globex", user="ada"),
        key("s2", tenant="acme", user="ada"),
    ]
    for index, k in enumerate(keys):
        async with ShortTermMemory(TRUNCATION, key=k, store=store) as memory:
            await memory.add_turn(Turn(user=f"secret-{index}", assistant="noted"))
    for index, k in enumerate(keys):
        async with ShortTermMemory(TRUNCATION, key=k, store=store) as memory:
            text = (await memory.get_llm_context()).text
        assert f"secret-{index}" in text
        others = [f"secret-{j}" for j in range(len(keys)) if j != index]
        assert not any(secret in text for secret in others)
    assert sorted(map(str, store.keys())) == sorted(map(str, keys))


async def test_without_a_key_nothing_is_persisted() -> None:
    store = InMemoryMemoryStore()
    async with ShortTermMemory(TRUNCATION, store=store) as memory:
        await memory.add_turn(turn(1))
        assert len(memory.turns) == 1
    assert store.keys() == []


async def test_store_failure_is_reported_and_state_unchanged() -> None:
    store = FailingStore(OSError("disk full"))
    async with ShortTermMemory(TRUNCATION, key=key(), store=store) as memory:
        with pytest.raises(MemoryStoreError, match=r"save_memory.*OSError: disk full") as info:
            await memory.add_turn(turn(1))
        assert info.value.operation == "save_memory"
        assert memory.turns == ()


async def test_unreadable_state_is_refused() -> None:
    store = InMemoryMemoryStore()
    await store.save_memory(key(), {"schema_version": 99, "recent": []}, expected_version=0)
    memory = ShortTermMemory(TRUNCATION, key=key(), store=store)
    with pytest.raises(MemoryStateError, match="schema_version 99 is newer"):
        await memory.load()
    await store.save_memory(
        key("s2"), {"schema_version": 1, "recent": [{"bad": 1}]}, expected_version=0
    )
    other = ShortTermMemory(TRUNCATION, key=key("s2"), store=store)
    with pytest.raises(MemoryStateError, match="invalid field"):
        await other.load()
    await memory.aclose()
    await other.aclose()


async def test_repr_names_strategy_and_key() -> None:
    async with ShortTermMemory(TRUNCATION, key=key()) as memory:
        assert "truncation" in repr(memory) and "acme/u1/s1" in repr(memory)


async def test_megabyte_blob_without_spaces_is_condensed() -> None:
    # tiktoken is quadratic on long runs without spaces; memory must stay linear.
    blob = "QUJD" * 500_000  # 2 MB of base64-like text
    config = ShortTermMemoryConfig(strategy="truncation")
    huge = Turn(user="store this", tool_calls=(ToolCallRecord(name="read", result=blob),))
    async with ShortTermMemory(config) as memory:
        stored = await memory.add_turn(huge)
        context = await memory.get_llm_context()
    assert stored.condensed
    assert stored.tool_calls[0].result.startswith("QUJDQUJD")
    assert context.tokens <= config.budget.total_max_tokens
    assert "store this" in context.text
