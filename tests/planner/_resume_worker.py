"""Subprocess used by test_resume_processes.py: resumes a paused run in its own process.

Usage (the resume token is the first line of stdin):
    python _resume_worker.py URL LEDGER resume TASKS
        prints "ready", waits for a "go" line, resumes from TASKS concurrent tasks and
        prints their outcomes as one JSON list ("finished" or the error class name).
    python _resume_worker.py URL LEDGER kill-before-commit
        approves; the approved tool runs and its result is journalled, then the process
        SIGKILLs itself when the planner tries to commit the step (complete_pause).
    python _resume_worker.py URL LEDGER kill-in-journal
        approves; the tool runs, then the process SIGKILLs itself before the journal
        records the tool's outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from hitl_helpers import build_planner, final

from penguiflow.planner import PlannerFinish
from penguiflow.sessions import SqlSessionStore


class DyingStore(SqlSessionStore):
    """A store whose process dies at one chosen write, like a crash or an OOM kill."""

    die_at = ""

    async def complete_pause(self, *args: Any, **kwargs: Any) -> Any:
        if self.die_at == "complete_pause":
            print("dying", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().complete_pause(*args, **kwargs)

    async def journal_complete(self, *args: Any, **kwargs: Any) -> Any:
        if self.die_at == "journal_complete":
            print("dying", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().journal_complete(*args, **kwargs)


async def resume_many(store: SqlSessionStore, token: str, ledger: str, tasks: int) -> None:
    planner = build_planner(store, [final("refunded")])
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def one() -> str:
        try:
            result = await planner.resume(token, approve=True, tool_context={"ledger": ledger})
        except Exception as exc:  # the outcome is what the test checks
            return type(exc).__name__
        return "finished" if isinstance(result, PlannerFinish) else "paused"

    async with planner:
        outcomes = await asyncio.gather(*(one() for _ in range(tasks)))
    print(json.dumps(outcomes), flush=True)


async def main(url: str, ledger: str, mode: str, *rest: str) -> None:
    token = sys.stdin.readline().strip()
    if mode == "resume":
        async with SqlSessionStore(url) as store:
            await resume_many(store, token, ledger, int(rest[0]))
        return
    store = DyingStore(url)
    store.die_at = "complete_pause" if mode == "kill-before-commit" else "journal_complete"
    await store.setup()
    planner = build_planner(store, [final("unreachable")])
    await planner.resume(token, approve=True, tool_context={"ledger": ledger})
    raise SystemExit("the worker should have died")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
