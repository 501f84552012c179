"""``penguiflow demo``: the whole mission, offline, with a resume in a second process.

The approving path (``--yes``) runs in the quickstart test, exactly as the docs show
it; here the interactive path answers "no" through stdin.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cli_support import penguiflow_inline

from penguiflow.sessions import SqlSessionStore


def test_demo_interactive_no_rejects_from_a_second_process(tmp_path: Path) -> None:
    from cli_support import penguiflow

    done = penguiflow("demo", "--dir", str(tmp_path / "d"), input="n\n", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "calling shop.get_order" in done.stderr  # the MCP tool
    assert "calling refund_policy" in done.stderr  # the Python tool
    assert "paused for approval" in out and "shop.issue_refund" in out
    assert "pending pauses in" in out and ": 1" in out  # committed to SQLite
    assert "Approve this refund? [y/N]" in out
    assert "rejected: resuming in a second process" in out
    assert "call_3_0 rejected" in done.stderr  # reported by the second process
    assert "was not issued" in out
    assert "refunds issued: 0 (the rejected call never ran)" in out
    assert not (tmp_path / "d" / "refunds.jsonl").exists()

    async def stored() -> tuple[str, str]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'd' / 'demo.sqlite3'}"
        async with SqlSessionStore(url) as store:
            (run,) = await store.list_runs()
            (pause,) = await store.list_pauses()
            return run.run_id, pause.status.value

    run_id, pause_status = asyncio.run(stored())
    assert pause_status == "resolved"
    shown = penguiflow_inline(
        "runs", "show", run_id, "--config", str(tmp_path / "d" / "agent.toml"), cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "finished" in shown.stdout and "shop.issue_refund" in shown.stdout
    assert "rejected by the reviewer: not approved in the demo" in shown.stdout
