"""Drive a worker script in another OS process over a line protocol (stdin/stdout).

Multi-process tests (concurrent claims, resumes, crashes) start small scripts that read
one command per line and answer one line per command.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


async def spawn(
    script: str, *args: str, extra_paths: tuple[str, ...] = ()
) -> asyncio.subprocess.Process:
    """Start ``python script *args`` with the repository (and ``extra_paths``) importable."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *extra_paths, env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
    )


async def send(proc: asyncio.subprocess.Process, line: str) -> None:
    """Write one command line to the worker."""
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    await proc.stdin.drain()


async def read_line(proc: asyncio.subprocess.Process, timeout: float = 90) -> str:
    """Read one answer line; a worker that exits instead fails with its stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=timeout)
    if not line:
        err = await proc.stderr.read()
        raise AssertionError(f"worker exited early: {err.decode()}")
    return line.decode().strip()
