"""The memory_chat example recalls an earlier fact after a restart, offline."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "memory_chat" / "chat.py"


def _run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PENGUIFLOW_MODEL"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_recalls_the_favourite_city_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "chat.sqlite3"
    lines = _run("--db", str(db)).splitlines()
    restart = lines.index("-- restart: planner and store closed; only the SQLite file remains --")
    before, after = lines[:restart], lines[restart + 1 :]
    assert "[session 1] assistant: It is 21 °C and sunny in Lisbon." in before
    assert "[session 1] assistant: Noted, Ada!" in before  # the name, from memory
    assert "    (memory_summary_finished, 1 turn(s))" in before
    assert (
        "[session 2] assistant: Your favourite city is Lisbon. "
        "When I checked, it was 21 °C and sunny." in after
    )
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT tenant_id, user_id, session_id FROM penguiflow_memory"
        ).fetchall()
    assert rows == [("demo", "ada", "chat-1")]


def test_runs_in_a_temporary_directory_by_default() -> None:
    out = _run()
    assert "Your favourite city is Lisbon." in out
