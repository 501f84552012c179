"""A run that pauses in one process and resumes in another is one trace."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from otel_helpers import Ledger, act, build_planner, parallel
from otel_support import Collected, read_spans, tree

from penguiflow.planner import PlannerPause

SCRIPT = Path(__file__).with_name("_resume_process.py")


async def test_a_pause_resumed_in_another_process_continues_the_trace(
    otel: Collected, store: Any, migrated_sqlite_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    planner = build_planner(
        [
            parallel([("weather", {"city": "Paris"}), ("flaky", {"city": "Rome"})]),
            act("refund", {"order_id": 7, "note": "late delivery"}),
        ],
        state_store=store,
    )
    async with planner:
        paused = await planner.run("refund order 7", tool_context={"ledger": str(ledger)})
    assert isinstance(paused, PlannerPause)

    there = tmp_path / "spans.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        migrated_sqlite_url,
        paused.resume_token,
        str(there),
        str(ledger),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "PlannerFinish"
    assert Ledger(ledger).lines() == ["refund 7"]

    here, resumed = otel.spans(), read_spans(there)
    spans = here + resumed
    assert {s["trace_id"] for s in spans} == {here[0]["trace_id"]}
    assert tree(spans) == "\n".join(
        [
            "invoke_agent assistant",
            "  chat gpt-4o-mini",
            "  execute_tool weather",
            "    node weather",
            "  execute_tool flaky",
            "    node flaky",
            "  chat gpt-4o-mini",
            "  pause",
            "    invoke_agent assistant",
            "      resume",
            "        execute_tool refund",
            "          node refund",
            "      chat gpt-4o-mini",
        ]
    )
    (pause,) = [s for s in here if s["name"] == "pause"]
    (run,) = [s for s in resumed if s["name"] == "invoke_agent assistant"]
    assert run["parent_id"] == pause["span_id"]  # the parent lives in the other process
    assert run["attributes"]["penguiflow.run.entry"] == "resume"
    assert run["attributes"]["penguiflow.run.id"] == paused.run_id
    assert run["attributes"]["penguiflow.run.outcome"] == "answer_complete"
