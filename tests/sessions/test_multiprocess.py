"""Exactly-once claims across OS processes, and recovery after a resumer is killed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from line_worker import read_line, send, spawn

from penguiflow.sessions import RunStatus, SqlSessionStore
from penguiflow.sessions.models import JournalStatus, PauseTicket

WORKER = str(Path(__file__).with_name("_claim_worker.py"))
PROCESSES = 2
TASKS_PER_PROCESS = 25


async def _paused_run(url: str) -> PauseTicket:
    async with SqlSessionStore(url) as store:
        run = await store.create_run(tenant_id="acme", state={"step": 1})
        return await store.create_pause(
            run.run_id,
            tenant_id="acme",
            reason="approval_required",
            pending_calls=[{"tool": "charge", "args": {"cents": 500}, "call_hash": "call-1"}],
            run_state={"step": 2},
            expected_run_version=1,
        )


async def test_claim_race_across_processes(db_url: str) -> None:
    ticket = await _paused_run(db_url)
    procs = [
        await spawn(WORKER, db_url, "acme", "claim", str(TASKS_PER_PROCESS))
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:
            await send(proc, ticket.token)
        for proc in procs:
            assert await read_line(proc) == "ready"
        for proc in procs:
            await send(proc, "go")
        outcomes = [o for proc in procs for o in json.loads(await read_line(proc))]
        for proc in procs:
            assert await proc.wait() == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert len(outcomes) == PROCESSES * TASKS_PER_PROCESS
    assert outcomes.count("won") == 1, outcomes
    assert set(outcomes) == {"won", "PauseAlreadyClaimedError"}
    async with SqlSessionStore(db_url) as store:
        pause = await store.get_pause(ticket.token, tenant_id="acme")
    assert pause.claim_count == 1 and pause.decision is not None


async def test_killed_resumer_does_not_rerun_the_tool(db_url: str) -> None:
    ticket = await _paused_run(db_url)
    proc = await spawn(WORKER, db_url, "acme", "crash")
    try:
        await send(proc, ticket.token)
        assert await read_line(proc) == "tool-ran"
        assert await proc.wait() == -9  # SIGKILL: nothing after the tool was committed
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # A later resumer, once the 1 s lease is over (its clock runs 5 s ahead: no sleeping).
    async with SqlSessionStore(db_url, clock=lambda: time.time() + 5) as store:
        claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"x": 1})
        assert claim.reclaimed and claim.decision == {"approve": True}
        begun = await store.journal_begin(
            claim.run.run_id, "call-1", tool="charge", args={"cents": 500}
        )
        assert begun.completed and begun.entry.status is JournalStatus.COMPLETED
        assert begun.entry.result == {"charged": 500}
        run = await store.complete_pause(
            claim,
            run_state={"step": 3},
            run_status=RunStatus.FINISHED,
            expected_run_version=claim.run.version,
        )
        assert run.status is RunStatus.FINISHED
