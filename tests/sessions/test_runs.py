"""Runs: create, read, optimistic saves, listing, tenants, damaged records."""

from __future__ import annotations

import asyncio

import pytest
from session_helpers import run_sql

from penguiflow.errors import ConfigError
from penguiflow.sessions import DuplicateRunError, RunNotFoundError, RunStatus, SqlSessionStore
from penguiflow.sessions.errors import (
    CorruptRecordError,
    StaleVersionError,
    UnserializableRecordError,
)


async def test_create_get_save(store: SqlSessionStore) -> None:
    run = await store.create_run(
        tenant_id="acme", session_id="s1", user_id="u1", state={"step": 0, "text": "héllo"}
    )
    assert run.version == 1 and run.status is RunStatus.RUNNING
    loaded = await store.get_run(run.run_id, tenant_id="acme")
    assert loaded == run
    saved = await store.save_run(
        run.run_id, state={"step": 1}, status=RunStatus.FINISHED, expected_version=1
    )
    assert saved.version == 2 and saved.state == {"step": 1}
    assert saved.status is RunStatus.FINISHED and saved.created_at == run.created_at
    sessions = await store.list_sessions(tenant_id="acme")
    assert [s.session_id for s in sessions] == ["s1"]


async def test_stale_version_is_refused(store: SqlSessionStore) -> None:
    run = await store.create_run(state={"n": 0})
    await store.save_run(run.run_id, state={"n": 1}, status=RunStatus.RUNNING, expected_version=1)
    with pytest.raises(StaleVersionError) as info:
        await store.save_run(
            run.run_id, state={"n": 99}, status=RunStatus.RUNNING, expected_version=1
        )
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert (await store.get_run(run.run_id)).state == {"n": 1}


async def test_concurrent_saves_one_wins(store: SqlSessionStore) -> None:
    run = await store.create_run()

    async def save(i: int) -> str:
        try:
            await store.save_run(
                run.run_id, state={"by": i}, status=RunStatus.RUNNING, expected_version=1
            )
        except StaleVersionError:
            return "stale"
        return "ok"

    outcomes = await asyncio.gather(*(save(i) for i in range(12)))
    assert outcomes.count("ok") == 1 and outcomes.count("stale") == 11
    assert (await store.get_run(run.run_id)).version == 2


async def test_other_tenant_cannot_see_or_save(store: SqlSessionStore) -> None:
    run = await store.create_run(tenant_id="a")
    with pytest.raises(RunNotFoundError):
        await store.get_run(run.run_id, tenant_id="b")
    with pytest.raises(RunNotFoundError):
        await store.save_run(
            run.run_id, state={}, status=RunStatus.FAILED, expected_version=1, tenant_id="b"
        )
    assert await store.list_runs(tenant_id="b") == []
    assert (await store.get_run(run.run_id)).tenant_id == "a"  # operator view


async def test_unknown_and_duplicate_runs(store: SqlSessionStore) -> None:
    with pytest.raises(RunNotFoundError, match="nope"):
        await store.get_run("nope")
    await store.create_run(run_id="fixed")
    with pytest.raises(DuplicateRunError):
        await store.create_run(run_id="fixed")
    with pytest.raises(RunNotFoundError):
        await store.save_run("nope", state={}, status=RunStatus.RUNNING, expected_version=1)


async def test_list_runs_filters(store: SqlSessionStore) -> None:
    a = await store.create_run(tenant_id="t", session_id="s1", user_id="u1")
    b = await store.create_run(tenant_id="t", session_id="s2", status=RunStatus.PAUSED)
    await store.create_run(tenant_id="other", session_id="s1")
    assert {r.run_id for r in await store.list_runs(tenant_id="t")} == {a.run_id, b.run_id}
    assert [r.run_id for r in await store.list_runs(tenant_id="t", session_id="s1")] == [a.run_id]
    assert [r.run_id for r in await store.list_runs(user_id="u1")] == [a.run_id]
    paused = await store.list_runs(status=RunStatus.PAUSED)
    assert [r.run_id for r in paused] == [b.run_id]
    both = await store.list_runs(tenant_id="t", status=[RunStatus.PAUSED, RunStatus.RUNNING])
    assert len(both) == 2
    assert len(await store.list_runs(limit=1)) == 1


async def test_bad_input_is_refused(store: SqlSessionStore) -> None:
    with pytest.raises(UnserializableRecordError, match="run state"):
        await store.create_run(state={"x": object()})
    with pytest.raises(UnserializableRecordError):
        await store.create_run(state={"x": float("nan")})
    with pytest.raises(ConfigError, match="tenant_id"):
        await store.create_run(tenant_id="")
    run = await store.create_run()
    with pytest.raises(ConfigError, match="expected_version"):
        await store.save_run(
            run.run_id,
            state={},
            status=RunStatus.RUNNING,
            expected_version="1",  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("stored", "match"),
    [
        ("{not json", "not a valid JSON record"),
        ('{"data": {}}', "schema_version"),
        ('{"schema_version": 99, "data": {}}', "newer PenguiFlow"),
        ('{"schema_version": 1, "data": [1, 2]}', "expected a JSON object"),
    ],
)
async def test_corrupt_state_raises(
    store: SqlSessionStore, db_url: str, stored: str, match: str
) -> None:
    run = await store.create_run(state={"ok": True})
    await run_sql(
        db_url, "UPDATE penguiflow_runs SET state = :s WHERE run_id = :r", s=stored, r=run.run_id
    )
    with pytest.raises(CorruptRecordError, match=match) as info:
        await store.get_run(run.run_id)
    assert info.value.table == "penguiflow_runs" and info.value.record_id == run.run_id
    with pytest.raises(CorruptRecordError):
        await store.list_runs()


async def test_corrupt_status_raises(store: SqlSessionStore, db_url: str) -> None:
    run = await store.create_run()
    await run_sql(db_url, "UPDATE penguiflow_runs SET status = 'zombie'")
    with pytest.raises(CorruptRecordError, match="zombie"):
        await store.get_run(run.run_id)
