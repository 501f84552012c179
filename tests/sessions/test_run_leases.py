"""Owner leases on running runs: heartbeat renewals, and recovery of runs whose owner died,
claimed exactly once (SQLite + PostgreSQL, across processes)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from line_worker import read_line, send, spawn
from session_helpers import FakeClock

from penguiflow.errors import ConfigError
from penguiflow.sessions import RunStatus, SqlSessionStore
from penguiflow.sessions.errors import RunInUseError, RunLeaseLostError, StaleVersionError

WORKER = str(Path(__file__).with_name("_claim_worker.py"))


async def test_an_owned_run_records_its_owner_and_lease(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    run = await clocked_store.create_run(tenant_id="a", owner_id="proc-1", lease_s=30)
    assert run.owner_id == "proc-1"
    assert run.lease_until is not None and run.lease_until.timestamp() == clock.now + 30
    clock.advance(20)
    renewed = await clocked_store.renew_run_lease(
        run.run_id, tenant_id="a", owner_id="proc-1", lease_s=30
    )
    assert renewed.timestamp() == clock.now + 30
    assert (await clocked_store.get_run(run.run_id, tenant_id="a")).version == 1  # not a save
    with pytest.raises(RunLeaseLostError):
        await clocked_store.renew_run_lease(run.run_id, tenant_id="a", owner_id="proc-2")
    with pytest.raises(ConfigError, match="lease_s"):
        await clocked_store.create_run(owner_id="proc-1", lease_s=0)
    finished = await clocked_store.save_run(
        run.run_id, state={}, status=RunStatus.FINISHED, expected_version=1, tenant_id="a"
    )
    assert (finished.owner_id, finished.lease_until) == (None, None)
    with pytest.raises(RunLeaseLostError):  # a finished run has no owner any more
        await clocked_store.renew_run_lease(run.run_id, tenant_id="a", owner_id="proc-1")


async def test_a_lapsed_run_is_recovered_exactly_once(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    store = clocked_store
    run = await store.create_run(tenant_id="a", owner_id="dead", lease_s=10, state={"step": 3})
    assert await store.recover_stale_runs(owner_id="me", lease_s=60) == []  # lease still live
    clock.advance(11)
    [claimed] = await store.recover_stale_runs(owner_id="me", lease_s=60)
    assert (claimed.run_id, claimed.owner_id, claimed.status) == (run.run_id, "me", "running")
    assert claimed.version == 2 and claimed.state == {"step": 3}
    assert await store.recover_stale_runs(owner_id="other", lease_s=60) == []
    # The old owner, if it comes back, can neither renew nor save over the recovered run.
    with pytest.raises(RunLeaseLostError):
        await store.renew_run_lease(run.run_id, tenant_id="a", owner_id="dead")
    with pytest.raises(StaleVersionError):
        await store.save_run(
            run.run_id, state={}, status=RunStatus.FAILED, expected_version=1, tenant_id="a"
        )
    # The new owner keeps it with its heartbeat; once that stops, it is stale again.
    clock.advance(50)
    await store.renew_run_lease(run.run_id, tenant_id="a", owner_id="me", lease_s=60)
    clock.advance(59)
    assert await store.recover_stale_runs(owner_id="other", lease_s=60) == []
    clock.advance(2)
    [again] = await store.recover_stale_runs(owner_id="other", lease_s=60)
    assert again.owner_id == "other" and again.version == 3


async def test_only_running_runs_with_a_lapsed_lease_are_recovered(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    store = clocked_store
    await store.create_run(tenant_id="a", run_id="unowned")  # no lease: not a planner's run
    await store.create_run(tenant_id="a", run_id="done", status=RunStatus.FINISHED)
    paused = await store.create_run(tenant_id="a", run_id="paused", owner_id="x", lease_s=5)
    ticket = await store.create_pause(
        paused.run_id,
        tenant_id="a",
        reason="approval_required",
        run_state={},
        expected_run_version=1,
    )
    assert ticket.pause.run_id == "paused"
    assert (await store.get_run("paused", tenant_id="a")).owner_id is None
    await store.create_run(tenant_id="a", run_id="stale-a", owner_id="x", lease_s=5)
    await store.create_run(tenant_id="b", run_id="stale-b", owner_id="x", lease_s=5)
    clock.advance(6)
    only_b = await store.recover_stale_runs(owner_id="me", tenant_id="b")
    assert [(r.tenant_id, r.run_id) for r in only_b] == [("b", "stale-b")]
    rest = await store.recover_stale_runs(owner_id="me")
    assert [(r.tenant_id, r.run_id) for r in rest] == [("a", "stale-a")]
    with pytest.raises(ConfigError, match="limit"):
        await store.recover_stale_runs(owner_id="me", limit=0)


async def test_claiming_a_run_to_continue_it(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    store = clocked_store
    await store.create_run(tenant_id="a", run_id="busy", owner_id="x", lease_s=30)
    with pytest.raises(RunInUseError, match="running") as busy:
        await store.claim_run("busy", tenant_id="a", owner_id="me", lease_s=30)
    assert busy.value.status == "running"
    clock.advance(31)
    taken = await store.claim_run("busy", tenant_id="a", owner_id="me", lease_s=30)
    assert (taken.owner_id, taken.version) == ("me", 2)
    done = await store.create_run(tenant_id="a", run_id="done", status=RunStatus.FINISHED)
    adopted = await store.claim_run(done.run_id, tenant_id="a", owner_id="me", lease_s=30)
    assert adopted.status is RunStatus.RUNNING and adopted.owner_id == "me"
    run = await store.create_run(tenant_id="a", run_id="p")
    await store.create_pause(
        run.run_id, tenant_id="a", reason="r", run_state={}, expected_run_version=1
    )
    with pytest.raises(RunInUseError, match="paused"):
        await store.claim_run("p", tenant_id="a", owner_id="me", lease_s=30)


async def test_a_resolved_pause_hands_the_run_to_its_resumer(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    store = clocked_store
    run = await store.create_run(tenant_id="a", owner_id="first", lease_s=30)
    ticket = await store.create_pause(
        run.run_id, tenant_id="a", reason="r", run_state={}, expected_run_version=1
    )
    claim = await store.claim_pause(ticket.token, tenant_id="a")
    resumed = await store.complete_pause(
        claim,
        run_state={"after": 1},
        run_status=RunStatus.RUNNING,
        expected_run_version=claim.run.version,
        owner_id="resumer",
        lease_s=20,
    )
    assert resumed.owner_id == "resumer"
    assert resumed.lease_until is not None and resumed.lease_until.timestamp() == clock.now + 20
    clock.advance(21)  # the resumer died after the commit: its run is recoverable
    [recovered] = await store.recover_stale_runs(owner_id="rescuer")
    assert recovered.state == {"after": 1} and recovered.owner_id == "rescuer"


async def test_recovery_races_across_processes_have_one_winner(db_url: str) -> None:
    past = time.time() - 3600  # the dead owner's lease ended an hour ago
    async with SqlSessionStore(db_url, clock=lambda: past) as store:
        run = await store.create_run(tenant_id="acme", owner_id="dead", lease_s=60)
    procs = [await spawn(WORKER, db_url, "acme", "recover", "10") for _ in range(2)]
    try:
        for proc in procs:
            await send(proc, "-")
        for proc in procs:
            assert await read_line(proc) == "ready"
        for proc in procs:
            await send(proc, "go")
        outcomes = [o for proc in procs for o in json.loads(await read_line(proc))]
        for proc in procs:
            assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert sorted(outcomes) == sorted([[run.run_id]] + [[]] * 19), outcomes
