"""Conversation memory persistence: versions, isolation, restart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from session_helpers import run_sql

from penguiflow.errors import ConfigError
from penguiflow.sessions import SqlSessionStore
from penguiflow.sessions.errors import CorruptRecordError, StaleVersionError


@dataclass(frozen=True)
class Key:
    tenant_id: str | None
    user_id: str | None
    session_id: str | None


async def test_load_save_roundtrip(store: SqlSessionStore) -> None:
    key = Key("t1", "u1", "s1")
    assert await store.load_memory(key) == (None, 0)
    v1 = await store.save_memory(key, {"turns": ["hi"]}, expected_version=0)
    assert v1 == 1
    v2 = await store.save_memory(key, {"turns": ["hi", "yo"]}, expected_version=1)
    assert await store.load_memory(key) == ({"turns": ["hi", "yo"]}, v2)


async def test_version_conflicts(store: SqlSessionStore) -> None:
    key = Key("t1", "u1", "s1")
    await store.save_memory(key, {"n": 1}, expected_version=0)
    with pytest.raises(StaleVersionError) as info:
        await store.save_memory(key, {"n": 2}, expected_version=0)
    assert (info.value.entity, info.value.actual) == ("memory", 1)
    with pytest.raises(StaleVersionError):
        await store.save_memory(key, {"n": 2}, expected_version=5)
    with pytest.raises(StaleVersionError):
        await store.save_memory(Key("t1", "u1", "new"), {"n": 2}, expected_version=3)


async def test_concurrent_writers_lose_nothing(store: SqlSessionStore) -> None:
    key = Key("t1", "u1", "s1")

    async def append(turn: int) -> None:
        while True:
            state, version = await store.load_memory(key)
            turns = [*(state or {}).get("turns", []), turn]
            try:
                await store.save_memory(key, {"turns": turns}, expected_version=version)
                return
            except StaleVersionError:
                await asyncio.sleep(0)

    await asyncio.gather(*(append(i) for i in range(10)))
    state, version = await store.load_memory(key)
    assert state is not None and sorted(state["turns"]) == list(range(10)) and version == 10


async def test_isolation_between_tenants_users_sessions(store: SqlSessionStore) -> None:
    await store.save_memory(Key("t1", "u1", "s1"), {"secret": "t1"}, expected_version=0)
    for other in (Key("t2", "u1", "s1"), Key("t1", "u2", "s1"), Key("t1", "u1", "s2")):
        assert await store.load_memory(other) == (None, 0)
    assert await store.load_memory(Key("t1", None, None)) == (None, 0)
    await store.save_memory(Key("t1", None, None), {"x": 1}, expected_version=0)
    assert await store.load_memory(Key("t1", "", "")) == ({"x": 1}, 1)


async def test_survives_restart_and_delete(db_url: str) -> None:
    key = Key("t1", "u1", "s1")
    async with SqlSessionStore(db_url) as first:
        await first.save_memory(key, {"fact": "blue"}, expected_version=0)
    async with SqlSessionStore(db_url) as second:
        assert await second.load_memory(key) == ({"fact": "blue"}, 1)
        assert await second.delete_memory(key)
        assert not await second.delete_memory(key)
        assert await second.load_memory(key) == (None, 0)


async def test_bad_keys_and_corruption(store: SqlSessionStore, db_url: str) -> None:
    with pytest.raises(ConfigError, match="tenant_id"):
        await store.load_memory(Key(None, "u", "s"))
    with pytest.raises(ConfigError, match="tenant_id"):
        await store.save_memory(Key("", "u", "s"), {}, expected_version=0)
    key = Key("t1", "u1", "s1")
    await store.save_memory(key, {"ok": 1}, expected_version=0)
    await run_sql(db_url, "UPDATE penguiflow_memory SET state = '{\"schema_version\": 1}'")
    with pytest.raises(CorruptRecordError, match="t1/u1/s1"):
        await store.load_memory(key)
