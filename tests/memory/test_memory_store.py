from __future__ import annotations

import pickle

import pytest
from _memory_support import key, turn

from penguiflow.memory import InMemoryMemoryStore, MemoryStore
from penguiflow.memory._state import STATE_SCHEMA_VERSION, MemoryState
from penguiflow.memory.errors import MemoryConflictError
from penguiflow.memory.store import is_conflict


async def test_versions_start_at_zero_and_increase() -> None:
    store = InMemoryMemoryStore()
    assert isinstance(store, MemoryStore)
    assert await store.load_memory(key()) == (None, 0)
    assert await store.save_memory(key(), {"schema_version": 1}, expected_version=0) == 1
    assert (
        await store.save_memory(key(), {"schema_version": 1, "summary": "x"}, expected_version=1)
        == 2
    )
    assert await store.load_memory(key()) == ({"schema_version": 1, "summary": "x"}, 2)


async def test_version_mismatch_raises_conflict() -> None:
    store = InMemoryMemoryStore()
    await store.save_memory(key(), {"a": 1}, expected_version=0)
    with pytest.raises(MemoryConflictError) as info:
        await store.save_memory(key(), {"a": 2}, expected_version=0)
    error = info.value
    assert (error.expected_version, error.actual_version, error.key) == (0, 1, "acme/u1/s1")
    assert is_conflict(error)
    again = pickle.loads(pickle.dumps(error))
    assert again.actual_version == 1 and str(again) == str(error)
    assert not is_conflict(RuntimeError("x"))


async def test_states_are_copied_not_shared() -> None:
    store = InMemoryMemoryStore()
    state = {"list": [1]}
    await store.save_memory(key(), state, expected_version=0)
    state["list"].append(2)
    loaded, _ = await store.load_memory(key())
    assert loaded == {"list": [1]}
    assert loaded is not None
    loaded["list"].append(3)
    assert (await store.load_memory(key()))[0] == {"list": [1]}


async def test_keys_are_isolated() -> None:
    store = InMemoryMemoryStore()
    await store.save_memory(key(tenant="a"), {"who": "a"}, expected_version=0)
    assert await store.load_memory(key(tenant="b")) == (None, 0)
    with pytest.raises(ValueError):
        await store.save_memory(key(), {"bad": float("nan")}, expected_version=0)


def test_state_round_trips_with_schema_version() -> None:
    state = MemoryState(summary="s", recent=(turn(1, tools=1),), pending=(turn(0),))
    data = state.model_dump(mode="json")
    assert data["schema_version"] == STATE_SCHEMA_VERSION
    assert MemoryState.model_validate(data) == state
