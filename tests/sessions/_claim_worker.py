"""Subprocess used by test_multiprocess.py.

Usage:
    python _claim_worker.py URL TENANT claim TASKS
        reads the token, prints "ready", waits for a "go" line, then claims the pause from
        TASKS concurrent tasks and prints their outcomes as one JSON list ("won" or the
        error class name).
    python _claim_worker.py URL TENANT crash
        reads the token, claims the pause with a 1 s lease, runs the pending tool call
        through the journal, then SIGKILLs itself before completing the pause.
    python _claim_worker.py URL TENANT recover TASKS
        reads a line, prints "ready", waits for a "go" line, then recovers stale runs from
        TASKS concurrent tasks and prints the run ids each one claimed, as one JSON list.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from penguiflow.sessions import SqlSessionStore


async def claim_many(store: SqlSessionStore, token: str, tenant: str, tasks: int) -> None:
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def claim(i: int) -> str:
        try:
            await store.claim_pause(token, tenant_id=tenant, decision={"worker": i})
        except Exception as exc:  # the outcome is what the test checks
            return type(exc).__name__
        return "won"

    outcomes = await asyncio.gather(*(claim(i) for i in range(tasks)))
    print(json.dumps(outcomes), flush=True)


async def crash_after_tool(store: SqlSessionStore, token: str, tenant: str) -> None:
    claim = await store.claim_pause(token, tenant_id=tenant, decision={"approve": True}, lease_s=1)
    call = claim.pause.pending_calls[0]
    begun = await store.journal_begin(
        claim.run.run_id, call["call_hash"], tool=call["tool"], args=call["args"]
    )
    if not begun.completed:
        await store.journal_complete(
            claim.run.run_id, call["call_hash"], result={"charged": call["args"]["cents"]}
        )
    print("tool-ran", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def recover_many(store: SqlSessionStore, tasks: int) -> None:
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def recover(i: int) -> list[str]:
        claimed = await store.recover_stale_runs(owner_id=f"{os.getpid()}-{i}", lease_s=60)
        return [run.run_id for run in claimed]

    outcomes = await asyncio.gather(*(recover(i) for i in range(tasks)))
    print(json.dumps(outcomes), flush=True)


async def main(url: str, tenant: str, mode: str, *rest: str) -> None:
    token = sys.stdin.readline().strip()
    async with SqlSessionStore(url) as store:
        if mode == "claim":
            await claim_many(store, token, tenant, int(rest[0]))
        elif mode == "recover":
            await recover_many(store, int(rest[0]))
        else:
            await crash_after_tool(store, token, tenant)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
