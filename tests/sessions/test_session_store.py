"""Lifecycle, configuration and import cost of SqlSessionStore."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys

import pytest
from session_helpers import REPO_ROOT
from sqlalchemy.ext.asyncio import create_async_engine

from penguiflow.errors import ConfigError, RunError, UsageError
from penguiflow.sessions import PauseAlreadyResumedError, SessionStoreError, SqlSessionStore
from penguiflow.sessions.errors import StaleVersionError, StoreClosedError, StoreStateError
from penguiflow.sessions.models import StoreState
from penguiflow.state import StateStore


async def test_lifecycle_states(db_url: str) -> None:
    store = SqlSessionStore(db_url)
    assert store.state is StoreState.UNOPENED
    with pytest.raises(StoreStateError, match="setup"):
        await store.get_run("x")
    await store.setup()
    await store.setup()  # idempotent
    assert store.state is StoreState.OPEN
    await store.create_run()
    await store.close()
    await store.close()  # harmless twice
    assert store.state is StoreState.CLOSED
    with pytest.raises(StoreClosedError, match="after close"):
        await store.list_runs()
    with pytest.raises(StoreClosedError):
        await store.setup()


async def test_async_with_opens_and_closes(sqlite_url: str) -> None:
    async with SqlSessionStore(sqlite_url) as store:
        assert store.state is StoreState.OPEN
        assert isinstance(store, StateStore)
    assert store.state is StoreState.CLOSED


async def test_given_engine_is_not_disposed(sqlite_url: str) -> None:
    engine = create_async_engine(sqlite_url)
    try:
        async with SqlSessionStore(engine=engine) as store:
            run = await store.create_run(state={"a": 1})
        async with SqlSessionStore(engine=engine) as again:
            assert (await again.get_run(run.run_id)).state == {"a": 1}
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql+aiomysql://u:secret@h/db", "supports SQLite and PostgreSQL"),
        ("sqlite+aiosqlite://", "in-memory"),
        ("sqlite+aiosqlite:///:memory:", "in-memory"),
        ("postgresql+pg8000://u@h/db", "not supported"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls_are_refused(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        SqlSessionStore(url)
    assert "secret" not in str(info.value)


def test_plain_urls_map_to_async_drivers() -> None:
    assert SqlSessionStore("sqlite:///x.sqlite3").url == "sqlite+aiosqlite:///x.sqlite3"
    store = SqlSessionStore("postgresql://u:pw@localhost/db")
    assert store.url == "postgresql+asyncpg://u:***@localhost/db"
    assert "pw" not in repr(store)
    assert store.dialect == "postgresql"


@pytest.mark.parametrize("kwargs", [{"pool_size": -1}, {"pool_timeout_s": 0}])
def test_bad_options_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SqlSessionStore("sqlite:///x.sqlite3", **kwargs)  # type: ignore[arg-type]


async def test_unreachable_database_is_a_backend_error(tmp_path: object) -> None:
    store = SqlSessionStore("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_timeout_s=5)
    with pytest.raises(SessionStoreError, match="setup"):
        await store.setup()
    assert store.state is StoreState.UNOPENED
    await store.close()


def test_errors_fit_the_tree_and_pickle() -> None:
    stale = StaleVersionError(entity="run", key="r1", expected=1, actual=3)
    assert isinstance(stale, RunError)
    copy = pickle.loads(pickle.dumps(stale))
    assert (copy.entity, copy.key, copy.expected, copy.actual) == ("run", "r1", 1, 3)
    resumed = PauseAlreadyResumedError(
        pause_id="p", run_id="r", outcome={"answer": 42}, resolved_at=None
    )
    assert pickle.loads(pickle.dumps(resumed)).outcome == {"answer": 42}
    assert isinstance(StoreClosedError(operation="x"), UsageError)
    assert isinstance(StoreClosedError(operation="x"), RuntimeError)


def test_import_is_light() -> None:
    code = (
        "import sys, penguiflow.sessions as s\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported eagerly'\n"
        "assert 'alembic' not in sys.modules, 'alembic imported eagerly'\n"
        "s.SqlSessionStore\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


async def test_dropping_an_open_store_warns(sqlite_url: str) -> None:
    store = SqlSessionStore(sqlite_url)
    await store.setup()
    await store.engine.dispose()  # release the connections ourselves; only the store leaks
    with pytest.warns(ResourceWarning, match="garbage-collected while open"):
        del store
        gc.collect()
