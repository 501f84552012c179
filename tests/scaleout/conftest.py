"""Fixtures of the scale-out tests: a real redis-server, and PostgreSQL from tests/pg_fixture.py.

Redis: a ``redis-server`` is started on 127.0.0.1 with a free port in a temporary
directory (no persistence) for the whole session. Without the binary the Redis tests are
skipped locally, and fail when the ``CI`` environment variable is set
(``scripts/ci_services.sh`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg_service import free_port

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def _wait_ping(port: int, proc: subprocess.Popen[bytes], logfile: Path) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {logfile.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING within 20s")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The base URL (``redis://127.0.0.1:<port>``) of a throwaway redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = (
            "redis-server not found; run scripts/ci_services.sh (apt-get install redis-server)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="penguiflow-redis-"))
    port = free_port()
    logfile = root / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(logfile),
            "--databases",
            "64",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ping(port, proc, logfile)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


_next_db = iter(range(1, 64))


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """A Redis database of its own for one test (flushed before use)."""
    from redis.asyncio import Redis

    try:
        db = next(_next_db)
    except StopIteration:  # more tests than databases: reuse db 0, flushed
        db = 0
    url = f"{redis_server}/{db}"
    client = Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    yield url


@pytest.fixture
def queue_name() -> str:
    """A unique queue name for one test."""
    return f"q-{uuid.uuid4().hex[:10]}"
