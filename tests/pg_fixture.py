"""Database fixtures shared by the test suite: SQLite files and a real, throwaway PostgreSQL.

Registered for every test directory by ``tests/conftest.py`` (``pytest_plugins``).

PostgreSQL (the server itself lives in tests/pg_service.py, shared with tests/scaleout): if
``PENGUIFLOW_TEST_PG_URL`` is set (``postgresql+asyncpg://...`` of a role that may CREATE
DATABASE), it is used. Otherwise a cluster is created with ``initdb`` in a temporary
directory, started with ``pg_ctl`` on 127.0.0.1 and a free port, and removed at the end of
the session. Without PostgreSQL binaries the PostgreSQL tests are skipped, or
fail when the ``CI`` environment variable is set (``scripts/ci_services.sh`` installs them).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg_service import SHARED_DB as _SHARED_DB
from pg_service import PgServer, admin_sql, shared_pg_server

from penguiflow.sessions import SqlSessionStore


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The shared throwaway PostgreSQL server (see tests/pg_service.py)."""
    with shared_pg_server() as server:
        yield server


async def _admin(server: PgServer, sql: str, database: str = "postgres") -> None:
    await admin_sql(server, sql, database)


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test (CREATE DATABASE is slowish)."""
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server, f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.url_for(name)
    finally:
        await _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_TABLES = ", ".join(
    f"penguiflow_{name}"
    for name in (
        "sessions",
        "runs",
        "pauses",
        "events",
        "remote_bindings",
        "memory",
        "tool_journal",
    )
)
_shared_ready: dict[str, bool] = {}


@pytest.fixture
async def pg_shared_url(pg_server: PgServer) -> str:
    """A migrated PostgreSQL database emptied before each test (much faster than a new one).

    If a test damaged the schema (dropped a table), the database is recreated.
    """
    url = pg_server.url_for(_SHARED_DB)
    if _shared_ready.get(url):
        try:
            await _admin(pg_server, f"TRUNCATE {_TABLES} RESTART IDENTITY", _SHARED_DB)
            return url
        except Exception:
            _shared_ready.pop(url)
    await _admin(pg_server, f'DROP DATABASE IF EXISTS "{_SHARED_DB}" WITH (FORCE)')
    await _admin(pg_server, f'CREATE DATABASE "{_SHARED_DB}"')
    async with SqlSessionStore(url):
        pass
    _shared_ready[url] = True
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'sessions.sqlite3'}"


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test session (migrating takes about a second)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.sqlite3"

    async def migrate() -> None:
        async with SqlSessionStore(f"sqlite+aiosqlite:///{path}"):
            pass

    asyncio.run(migrate())
    return path


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, _migrated_sqlite_template: Path) -> str:
    """A fresh, migrated SQLite file for one test (a copy of the session's template)."""
    target = tmp_path / "migrated.sqlite3"
    shutil.copyfile(_migrated_sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database, once per backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("migrated_sqlite_url"))
    return str(request.getfixturevalue("pg_shared_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a brand-new empty database, once per backend (for migration tests)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))
