"""Fixtures for the session-store tests: SQLite files and a real, throwaway PostgreSQL.

PostgreSQL: if ``PENGUIFLOW_TEST_PG_URL`` is set (``postgresql+asyncpg://...`` of a role
that may CREATE DATABASE), it is used. Otherwise a cluster is created with ``initdb`` in a
temporary directory, started with ``pg_ctl`` on 127.0.0.1 and a free port, and removed at
the end of the session. Without PostgreSQL binaries the PostgreSQL tests are skipped, or
fail when the ``CI`` environment variable is set (``scripts/ci_services.sh`` installs them).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from session_helpers import FakeClock

from penguiflow.sessions import SqlSessionStore


@dataclass
class PgServer:
    """A PostgreSQL server for the tests; ``restart`` is None for an external server."""

    admin_url: str  # postgresql+asyncpg://.../postgres
    bindir: Path | None = None
    datadir: Path | None = None
    logfile: Path | None = None
    options: str = ""

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    @property
    def can_restart(self) -> bool:
        return self.bindir is not None

    def _ctl(self, *args: str) -> None:
        if self.bindir is None or self.datadir is None:
            raise RuntimeError("cannot control an external PostgreSQL server")
        _pg(self.bindir, "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), *args)

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._ctl("-o", self.options, "-w", "start")

    def restart(self) -> None:
        self._ctl("-o", self.options, "-w", "-m", "fast", "restart")


def _find_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg(bindir: Path, tool: str, *args: str) -> None:
    cmd = [*_as_postgres(), str(bindir / tool), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("PENGUIFLOW_TEST_PG_URL")
    if external:
        base, _, _ = external.rpartition("/")
        server = PgServer(admin_url=f"{base}/postgres")
        yield server
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{_SHARED_DB}" WITH (FORCE)'))
        return
    bindir = _find_bindir()
    if bindir is None:
        message = (
            "PostgreSQL binaries (initdb, pg_ctl) not found; run scripts/ci_services.sh "
            "or set PENGUIFLOW_TEST_PG_URL"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="penguiflow-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    datadir, logfile = root / "data", root / "server.log"
    port = _free_port()
    started = False
    try:
        _pg(
            bindir,
            "initdb",
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _pg(bindir, "pg_ctl", "-D", str(datadir), "-l", str(logfile), "-o", options, "-w", "start")
        started = True
        yield PgServer(
            admin_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
            bindir=bindir,
            datadir=datadir,
            logfile=logfile,
            options=options,
        )
    finally:
        if started:
            try:
                _pg(bindir, "pg_ctl", "-D", str(datadir), "-w", "-m", "immediate", "stop")
            except RuntimeError:
                pass
        shutil.rmtree(root, ignore_errors=True)


async def _admin(server: PgServer, sql: str, database: str = "postgres") -> None:
    import asyncpg

    dsn = server.url_for(database).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET lock_timeout = '20s'")
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test (CREATE DATABASE is slowish)."""
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server, f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.url_for(name)
    finally:
        await _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_SHARED_DB = "pf_test_shared"
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database, once per backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_shared_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a brand-new empty database, once per backend (for migration tests)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlSessionStore]:
    """An open store on a fresh database, once per backend."""
    async with SqlSessionStore(db_url) as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked_store(db_url: str, clock: FakeClock) -> AsyncIterator[SqlSessionStore]:
    """An open store whose clock the test controls, once per backend."""
    async with SqlSessionStore(db_url, clock=clock) as opened:
        yield opened
