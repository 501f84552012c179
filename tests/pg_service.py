"""A throwaway PostgreSQL server shared by every test directory that needs one.

If ``PENGUIFLOW_TEST_PG_URL`` is set (``postgresql+asyncpg://...`` of a role that may
CREATE DATABASE), it is used. Otherwise a cluster is created with ``initdb`` in a
temporary directory, started with ``pg_ctl`` on 127.0.0.1 and a free port, and removed
when the last user releases it. Several conftests (tests/sessions, tests/scaleout) each
declare a session fixture over :func:`shared_pg_server`; they share one cluster.
Importable by name: pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED_DB = "pf_test_shared"


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
        run_pg(self.bindir, "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), *args)

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._ctl("-o", self.options, "-w", "start")

    def restart(self) -> None:
        self._ctl("-o", self.options, "-w", "-m", "fast", "restart")


def find_bindir() -> Path | None:
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


def run_pg(bindir: Path, tool: str, *args: str) -> None:
    cmd = [*_as_postgres(), str(bindir / tool), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def admin_sql(server: PgServer, sql: str, database: str = "postgres") -> None:
    import asyncpg

    dsn = server.url_for(database).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET lock_timeout = '20s'")
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def _own_cluster() -> Iterator[PgServer]:
    external = os.environ.get("PENGUIFLOW_TEST_PG_URL")
    if external:
        base, _, _ = external.rpartition("/")
        server = PgServer(admin_url=f"{base}/postgres")
        yield server
        asyncio.run(admin_sql(server, f'DROP DATABASE IF EXISTS "{SHARED_DB}" WITH (FORCE)'))
        return
    bindir = find_bindir()
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
    port = free_port()
    started = False
    try:
        run_pg(
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
        run_pg(
            bindir, "pg_ctl", "-D", str(datadir), "-l", str(logfile), "-o", options, "-w", "start"
        )
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
                run_pg(bindir, "pg_ctl", "-D", str(datadir), "-w", "-m", "immediate", "stop")
            except RuntimeError:
                pass
        shutil.rmtree(root, ignore_errors=True)


class _Shared:
    server: PgServer | None = None
    users = 0
    stack: contextlib.ExitStack | None = None


@contextlib.contextmanager
def shared_pg_server() -> Iterator[PgServer]:
    """The test session's PostgreSQL server, started on first use, stopped after the last."""
    if _Shared.server is None:
        stack = contextlib.ExitStack()
        server = stack.enter_context(_own_cluster())  # may skip or fail the test
        _Shared.server, _Shared.stack = server, stack
    _Shared.users += 1
    try:
        yield _Shared.server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0 and _Shared.stack is not None:
            stack, _Shared.stack, _Shared.server = _Shared.stack, None, None
            stack.close()
