"""The store survives a PostgreSQL restart: pooled connections are pre-pinged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow.sessions import RunStatus, SqlSessionStore
from penguiflow.sessions.errors import StoreBackendError

pytestmark = pytest.mark.postgres


async def _use_every_pooled_connection(store: SqlSessionStore, run_id: str) -> None:
    await asyncio.gather(*(store.get_run(run_id) for _ in range(4)))


async def test_store_survives_server_restart(pg_server: Any, pg_shared_url: str) -> None:
    if not pg_server.can_restart:
        pytest.skip("PENGUIFLOW_TEST_PG_URL points at a server these tests cannot restart")
    async with SqlSessionStore(pg_shared_url, pool_size=4) as store:
        run = await store.create_run(state={"n": 1})
        await _use_every_pooled_connection(store, run.run_id)

        await asyncio.to_thread(pg_server.restart)  # every pooled connection is now dead

        assert (await store.get_run(run.run_id)).state == {"n": 1}
        await _use_every_pooled_connection(store, run.run_id)
        saved = await store.save_run(
            run.run_id, state={"n": 2}, status=RunStatus.RUNNING, expected_version=1
        )
        assert saved.version == 2


async def test_store_reports_a_down_server_then_recovers(
    pg_server: Any, pg_shared_url: str
) -> None:
    if not pg_server.can_restart:
        pytest.skip("PENGUIFLOW_TEST_PG_URL points at a server these tests cannot stop")
    async with SqlSessionStore(pg_shared_url, pool_size=2, pool_timeout_s=5) as store:
        run = await store.create_run()
        await asyncio.to_thread(pg_server.stop)
        try:
            with pytest.raises(StoreBackendError, match="get_run"):
                await store.get_run(run.run_id)
        finally:
            await asyncio.to_thread(pg_server.start)
        assert (await store.get_run(run.run_id)).run_id == run.run_id
