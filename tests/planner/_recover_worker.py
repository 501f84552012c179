"""Subprocess used by test_run_recovery.py: resumes a pause and dies, or recovers runs.

Usage:
    python _recover_worker.py URL LEDGER resume-then-hang
        reads the resume token, approves it (the refund runs through the journal and the
        pause's resolution is committed), then the run calls ``hang``, which prints
        "hanging" and blocks until the test SIGKILLs the process.
    python _recover_worker.py URL LEDGER recover CLOCK_OFFSET_S
        prints "ready", waits for a "go" line, recovers the stale runs with a store clock
        CLOCK_OFFSET_S seconds ahead, and prints one JSON list: for each recovered run,
        ``[run_id, "finished" | "paused" | error]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from hitl_helpers import CityArgs, Ledger, Weather, act, build_planner, final, hitl_catalog

from penguiflow import Node, tool
from penguiflow.planner import PlannerFinish, ReactPlanner, ScriptedLLM, ToolContext
from penguiflow.sessions import SqlSessionStore


@tool(desc="Look something up, slowly", side_effects="read")
async def hang(args: CityArgs, ctx: ToolContext) -> Weather:
    Ledger(ctx.tool_context["ledger"]).record({"tool": "hang"})
    print("hanging", flush=True)
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def resume_then_hang(url: str, ledger: str) -> None:
    token = sys.stdin.readline().strip()
    async with SqlSessionStore(url) as store:
        nodes, registry = hitl_catalog()
        registry.register("hang", CityArgs, Weather)
        planner = ReactPlanner(
            llm_client=ScriptedLLM([act("hang", {"city": "Lisbon"})]),
            nodes=[*nodes, Node(hang, name="hang")],
            registry=registry,
            state_store=store,
        )
        async with planner:
            await planner.resume(token, approve=True, tool_context={"ledger": ledger})
    raise SystemExit("the worker should have been killed")


async def recover(url: str, ledger: str, offset: float) -> None:
    async with SqlSessionStore(url, clock=lambda: time.time() + offset) as store:
        planner = build_planner(store, [final("recovered")])
        async with planner:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            recovered = await planner.recover_stale_runs(tool_context={"ledger": ledger})
    outcomes: list[list[Any]] = []
    for item in recovered:
        if item.error is not None:
            outcomes.append([item.run_id, item.error])
        else:
            finished = isinstance(item.result, PlannerFinish)
            outcomes.append([item.run_id, "finished" if finished else "paused"])
    print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    url, ledger_path, mode, *rest = sys.argv[1:]
    if mode == "resume-then-hang":
        asyncio.run(resume_then_hang(url, ledger_path))
    else:
        asyncio.run(recover(url, ledger_path, float(rest[0])))
