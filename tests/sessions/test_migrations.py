"""Schema creation and in-place upgrades with the packaged alembic revisions."""

from __future__ import annotations

import asyncio
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from session_helpers import REPO_ROOT, run_sql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from penguiflow.sessions import SqlSessionStore
from penguiflow.sessions._migrate import head_revision, upgrade
from penguiflow.sessions._tables import VERSION_TABLE, metadata
from penguiflow.sessions.errors import SchemaVersionError
from penguiflow.sessions.models import StoreState


async def _upgrade_to(url: str, target: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, target)
    finally:
        await engine.dispose()


def _schema_diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(ctx, metadata))


async def test_fresh_database_matches_the_tables(empty_db_url: str) -> None:
    async with SqlSessionStore(empty_db_url):
        pass
    assert await run_sql(empty_db_url, f"SELECT version_num FROM {VERSION_TABLE}") == [
        (head_revision(),)
    ]
    engine = create_async_engine(empty_db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
    finally:
        await engine.dispose()
    assert diff == []


async def test_older_schema_is_upgraded_in_place(empty_db_url: str) -> None:
    await _upgrade_to(empty_db_url, "0001")
    await run_sql(
        empty_db_url,
        "INSERT INTO penguiflow_runs (run_id, tenant_id, status, state, version, created_at,"
        " updated_at) VALUES ('old-run', 't', 'paused', :state, 4, 1.0, 2.0)",
        state='{"schema_version": 1, "data": {"step": 7}}',
    )
    tables = await run_sql(empty_db_url, f"SELECT version_num FROM {VERSION_TABLE}")
    assert tables == [("0001",)]
    async with SqlSessionStore(empty_db_url) as store:
        run = await store.get_run("old-run", tenant_id="t")
        assert (run.state, run.version) == ({"step": 7}, 4)
        # the tables added by the newer revision work
        await store.journal_begin("old-run", "h", tool="t", args={})
        await store.save_memory(_Key(), {"x": 1}, expected_version=0)
    assert await run_sql(empty_db_url, f"SELECT version_num FROM {VERSION_TABLE}") == [
        (head_revision(),)
    ]


async def test_upgrade_keys_runs_and_journal_by_tenant(empty_db_url: str) -> None:
    await _upgrade_to(empty_db_url, "0003")
    await run_sql(
        empty_db_url,
        "INSERT INTO penguiflow_runs (run_id, tenant_id, status, state, version, created_at,"
        " updated_at) VALUES ('job-1', 'acme', 'paused', :state, 2, 1.0, 2.0)",
        state='{"schema_version": 1, "data": {"step": 1}}',
    )
    await run_sql(
        empty_db_url,
        "INSERT INTO penguiflow_tool_journal (run_id, call_hash, tool, args, status, result,"
        " attempts, created_at, updated_at) VALUES ('job-1', 'h', 'refund', :args,"
        " 'completed', :result, 1, 1.0, 1.0)",
        args='{"schema_version": 1, "data": {}}',
        result='{"schema_version": 1, "data": {"refunded": 5}}',
    )
    async with SqlSessionStore(empty_db_url) as store:
        # The entry follows its run's tenant: the resume of acme's run still finds it.
        begun = await store.journal_begin("job-1", "h", tool="refund", args={}, tenant_id="acme")
        assert begun.completed and begun.entry.result == {"refunded": 5}
        # Another tenant can now use the same run id, with a journal of its own.
        await store.create_run(tenant_id="globex", run_id="job-1")
        other = await store.journal_begin("job-1", "h", tool="refund", args={}, tenant_id="globex")
        assert other.is_new
        old = await store.get_run("job-1", tenant_id="acme")
        assert (old.status, old.version, old.owner_id, old.error) == ("paused", 2, None, None)


class _Key:
    tenant_id = "t"
    user_id = "u"
    session_id = "s"


async def test_newer_unknown_schema_is_refused(empty_db_url: str) -> None:
    async with SqlSessionStore(empty_db_url) as store:
        await store.create_run(run_id="keep")
    await run_sql(empty_db_url, f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    newer = SqlSessionStore(empty_db_url)
    with pytest.raises(SchemaVersionError, match="0099") as info:
        await newer.setup()
    assert info.value.found == ("0099",) and info.value.supported == head_revision()
    assert newer.state is StoreState.UNOPENED
    await newer.close()
    assert await run_sql(empty_db_url, "SELECT run_id FROM penguiflow_runs") == [("keep",)]


async def test_concurrent_setups_of_one_database(empty_db_url: str) -> None:
    stores = [SqlSessionStore(empty_db_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.setup() for s in stores))
        run = await stores[0].create_run()
        assert (await stores[3].get_run(run.run_id)).run_id == run.run_id
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def test_schema_head_constant_matches_the_revisions() -> None:
    from penguiflow.sessions._tables import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


async def test_setup_of_current_schema_skips_alembic(sqlite_url: str) -> None:
    async with SqlSessionStore(sqlite_url):
        pass
    code = (
        "import asyncio, sys\n"
        "from penguiflow.sessions import SqlSessionStore\n"
        "async def main():\n"
        f"    async with SqlSessionStore({sqlite_url!r}) as s:\n"
        "        await s.list_runs()\n"
        "asyncio.run(main())\n"
        "assert 'alembic' not in sys.modules\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO_ROOT, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
