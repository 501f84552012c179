"""examples/hitl_approval: pause in one process, resume in another (SQLite file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = str(ROOT / "examples" / "hitl_approval" / "agent.py")


def _agent(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, AGENT, "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def _pause(db: Path) -> str:
    ran = _agent(db, "run")
    assert ran.returncode == 0, ran.stderr
    assert "paused: approval_required" in ran.stdout
    assert "call_1_0: refund" in ran.stdout
    assert "[refund tool]" not in ran.stderr  # nothing ran before the approval
    return ran.stdout.split("resume token: ", 1)[1].strip()


def test_approve_in_a_second_process_then_refuse_a_replay(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    token = _pause(db)
    approved = _agent(db, "approve", token)
    assert approved.returncode == 0, approved.stderr
    assert "answer: Refunded 25.00 EUR on order 1042" in approved.stdout
    assert approved.stderr.count("[refund tool]") == 1
    replay = _agent(db, "approve", token)
    assert replay.returncode == 2
    assert "already resumed" in replay.stdout
    assert "[refund tool]" not in replay.stderr


def test_reject_and_edit(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    rejected = _agent(db, "reject", _pause(db), "--reason", "customer withdrew")
    assert rejected.returncode == 0, rejected.stderr
    assert "No refund was made: rejected by the reviewer: customer withdrew" in rejected.stdout
    assert "[refund tool]" not in rejected.stderr
    edited = _agent(db, "edit", _pause(db), "--cents", "1500")
    assert edited.returncode == 0, edited.stderr
    assert "Refunded 15.00 EUR" in edited.stdout
