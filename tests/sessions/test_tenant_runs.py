"""Run ids are scoped by tenant: the same id in two tenants is two runs, with their own
pauses and tool-call journal (SQLite + PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from penguiflow.errors import ConfigError
from penguiflow.sessions import (
    DuplicateRunError,
    PauseStatus,
    RunNotFoundError,
    RunStatus,
    SqlSessionStore,
)
from penguiflow.sessions.errors import StaleVersionError


async def test_one_run_id_in_two_tenants_is_two_runs(store: SqlSessionStore) -> None:
    # Tenant B takes the id first; tenant A's later run with that id must still work.
    b_run = await store.create_run(tenant_id="b", run_id="job-123", state={"who": "b"})
    a_run = await store.create_run(tenant_id="a", run_id="job-123", state={"who": "a"})
    assert (a_run.tenant_id, b_run.tenant_id) == ("a", "b")
    assert (await store.get_run("job-123", tenant_id="a")).state == {"who": "a"}
    assert (await store.get_run("job-123", tenant_id="b")).state == {"who": "b"}
    # Each tenant saves its own run; the other one's version and state do not move.
    saved = await store.save_run(
        "job-123",
        state={"who": "a", "n": 2},
        status=RunStatus.FINISHED,
        expected_version=1,
        tenant_id="a",
    )
    assert saved.version == 2
    other = await store.get_run("job-123", tenant_id="b")
    assert (other.version, other.status, other.state) == (1, RunStatus.RUNNING, {"who": "b"})
    assert [r.tenant_id for r in await store.list_runs(tenant_id="a")] == ["a"]
    # Within one tenant the id is still unique.
    with pytest.raises(DuplicateRunError):
        await store.create_run(tenant_id="a", run_id="job-123")


async def test_an_ambiguous_id_needs_its_tenant(store: SqlSessionStore) -> None:
    await store.create_run(tenant_id="a", run_id="shared")
    await store.create_run(tenant_id="b", run_id="shared")
    with pytest.raises(ConfigError, match="tenant_id"):
        await store.get_run("shared")
    with pytest.raises(ConfigError, match="tenant_id"):
        await store.save_run("shared", state={}, status=RunStatus.FAILED, expected_version=1)
    for tenant in ("a", "b"):  # nothing was written by the refused save
        assert (await store.get_run("shared", tenant_id=tenant)).version == 1
    only = await store.create_run(tenant_id="c", run_id="alone")
    assert (await store.get_run("alone")).tenant_id == only.tenant_id == "c"
    with pytest.raises(RunNotFoundError):
        await store.get_run("alone", tenant_id="a")


async def test_pauses_of_same_named_runs_stay_apart(store: SqlSessionStore) -> None:
    tickets = {}
    for tenant in ("a", "b"):
        run = await store.create_run(tenant_id=tenant, run_id="job-7", state={"t": tenant})
        tickets[tenant] = await store.create_pause(
            run.run_id,
            tenant_id=tenant,
            reason="approval_required",
            run_state={"t": tenant, "paused": True},
            expected_run_version=run.version,
            expires_at=timedelta(hours=1),
        )
    claim = await store.claim_pause(tickets["a"].token, tenant_id="a", decision={"ok": True})
    assert claim.run.tenant_id == "a" and claim.run.state == {"t": "a", "paused": True}
    await store.complete_pause(
        claim,
        run_state={"t": "a", "done": True},
        run_status=RunStatus.FINISHED,
        expected_run_version=claim.run.version,
    )
    b_run = await store.get_run("job-7", tenant_id="b")
    assert b_run.status is RunStatus.PAUSED and b_run.state == {"t": "b", "paused": True}
    [b_pause] = await store.list_pauses(tenant_id="b", run_id="job-7")
    assert b_pause.status is PauseStatus.PENDING
    # A tenant's stale version never reaches the other tenant's run of that id.
    with pytest.raises(StaleVersionError):
        await store.save_run(
            "job-7", state={}, status=RunStatus.FAILED, expected_version=1, tenant_id="b"
        )


async def test_the_tool_journal_is_kept_per_tenant(store: SqlSessionStore) -> None:
    first = await store.journal_begin("job-9", "h1", tool="refund", args={"c": 1}, tenant_id="a")
    assert first.is_new
    await store.journal_complete("job-9", "h1", result={"refunded": "a"}, tenant_id="a")
    # Tenant b's call with the same run id and key has not run: it must run, not reuse a's.
    other = await store.journal_begin("job-9", "h1", tool="refund", args={"c": 1}, tenant_id="b")
    assert other.is_new and not other.completed
    await store.journal_fail("job-9", "h1", error={"e": "x"}, tenant_id="b")
    again = await store.journal_begin("job-9", "h1", tool="refund", args={"c": 1}, tenant_id="a")
    assert again.completed and again.entry.result == {"refunded": "a"}
    entry = await store.journal_get("job-9", "h1", tenant_id="b")
    assert entry is not None and entry.error == {"e": "x"}


async def test_pruning_one_tenants_run_keeps_the_others(store: SqlSessionStore) -> None:
    done = await store.create_run(tenant_id="a", run_id="job-1", status=RunStatus.FINISHED)
    await store.journal_begin(done.run_id, "h", tool="t", args={}, tenant_id="a")
    live = await store.create_run(tenant_id="b", run_id="job-1")
    await store.journal_begin(live.run_id, "h", tool="t", args={}, tenant_id="b")
    result = await store.prune(older_than=timedelta(0))
    assert (result.runs, result.journal_entries) == (1, 1)
    with pytest.raises(RunNotFoundError):
        await store.get_run("job-1", tenant_id="a")
    assert (await store.get_run("job-1", tenant_id="b")).status is RunStatus.RUNNING
    assert await store.journal_get("job-1", "h", tenant_id="b") is not None
