"""Helpers for driving the ``penguiflow`` command in subprocesses, as a user would."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixture_agent"
_SCRIPT = Path(sys.executable).with_name("penguiflow")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "penguiflow.cli"]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENGUIFLOW_")}
    env.update({"COLUMNS": "200", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **extra})
    return env


def penguiflow(
    *args: str, cwd: Path, input: str | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``penguiflow ARGS`` in ``cwd`` and return the finished process."""
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        check=False,
    )


def copy_agent(directory: Path) -> Path:
    """Copy the test agent (config, tools, offline client) into ``directory``."""
    for name in ("agent.toml", "cli_tools.py", "cli_llm.py"):
        shutil.copy(FIXTURE / name, directory / name)
    return directory / "agent.toml"


def token_of(stdout: str) -> str:
    """The resume token printed by ``run``/``resume`` on a pause."""
    for line in stdout.splitlines():
        if line.startswith("resume token: "):
            return line.removeprefix("resume token: ").strip()
    raise AssertionError(f"no resume token in the output:\n{stdout}")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def penguiflow_inline(*args: str, cwd: Path, input: str = "") -> Result:
    """Run the CLI's ``main`` in this process (fast; for the many small variations)."""
    from penguiflow.cli import main

    out, err = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO(input)
    previous, saved = Path.cwd(), dict(os.environ)
    os.environ.update({"COLUMNS": "200", "NO_COLOR": "1"})
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(previous)
        sys.stdin = stdin
        os.environ.clear()
        os.environ.update(saved)
    return Result(code, out.getvalue(), err.getvalue())
