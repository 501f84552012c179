"""InMemorySessionStore keeps the SessionStore contract: the same records and errors as SQL.

Every test runs on the in-memory store and on a SQLite ``SqlSessionStore``, both with a
clock the test controls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from session_helpers import FakeClock

from penguiflow.memory import MemoryKey, MemoryStore
from penguiflow.memory.store import is_conflict
from penguiflow.sessions import (
    DuplicateRunError,
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseNotFoundError,
    PauseStatus,
    RunNotFoundError,
    RunStatus,
    SessionStore,
    SqlSessionStore,
)
from penguiflow.sessions.errors import (
    PauseLeaseLostError,
    RunInUseError,
    RunLeaseLostError,
    StaleVersionError,
)
from penguiflow.sessions.in_memory import InMemorySessionStore
from penguiflow.sessions.models import JournalStatus, PauseTicket

CALLS = [{"tool": "transfer", "args": {"amount": 10}, "call_hash": "h1"}]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, clock: FakeClock, migrated_sqlite_url: str
) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield InMemorySessionStore(clock=clock)
        return
    async with SqlSessionStore(migrated_sqlite_url, clock=clock) as opened:
        yield opened


async def _pause(store: Any, *, tenant: str = "acme", expires: Any = None) -> PauseTicket:
    run = await store.create_run(tenant_id=tenant, state={"step": 1})
    ticket: PauseTicket = await store.create_pause(
        run.run_id,
        tenant_id=tenant,
        reason="approval_required",
        payload={"question": "transfer 10?"},
        pending_calls=CALLS,
        expires_at=expires,
        run_state={"step": 2},
        expected_run_version=run.version,
    )
    return ticket


def test_it_implements_the_protocols() -> None:
    store = InMemorySessionStore()
    assert isinstance(store, SessionStore) and isinstance(store, MemoryStore)


async def test_runs_versions_and_tenants(store: Any) -> None:
    run = await store.create_run(tenant_id="acme", run_id="r1", state={"a": 1})
    assert (run.version, run.status, run.state) == (1, RunStatus.RUNNING, {"a": 1})
    with pytest.raises(DuplicateRunError):
        await store.create_run(tenant_id="acme", run_id="r1")
    other = await store.create_run(tenant_id="globex", run_id="r1")  # same id, other tenant
    assert other.tenant_id == "globex"
    saved = await store.save_run(
        "r1", tenant_id="acme", state={"a": 2}, status=RunStatus.FINISHED, expected_version=1
    )
    assert (saved.version, saved.state, saved.owner_id) == (2, {"a": 2}, None)
    with pytest.raises(StaleVersionError):
        await store.save_run(
            "r1", tenant_id="acme", state={}, status=RunStatus.FAILED, expected_version=1
        )
    with pytest.raises(RunNotFoundError):
        await store.get_run("r1", tenant_id="initech")
    assert (await store.get_run("r1", tenant_id="acme")).state == {"a": 2}


async def test_concurrent_claims_exactly_one_wins(store: Any) -> None:
    ticket = await _pause(store)
    assert ticket.token.startswith("pf_") and ticket.pause.status is PauseStatus.PENDING

    async def claim(i: int) -> str:
        try:
            await store.claim_pause(ticket.token, tenant_id="acme", decision={"by": i})
        except PauseAlreadyClaimedError:
            return "lost"
        return "won"

    outcomes = await asyncio.gather(*(claim(i) for i in range(20)))
    assert outcomes.count("won") == 1


async def test_claim_complete_then_already_resumed(store: Any) -> None:
    ticket = await _pause(store)
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"approve": True})
    assert claim.decision == {"approve": True} and claim.run.version == 2
    run = await store.complete_pause(
        claim,
        run_state={"step": 3},
        run_status=RunStatus.RUNNING,
        expected_run_version=2,
        outcome={"answer": "done"},
        owner_id="worker-1",
    )
    assert (run.version, run.owner_id, run.status) == (3, "worker-1", RunStatus.RUNNING)
    with pytest.raises(PauseAlreadyResumedError) as info:
        await store.claim_pause(ticket.token, tenant_id="acme")
    assert info.value.outcome == {"answer": "done"}
    with pytest.raises(PauseLeaseLostError):
        await store.release_pause(claim)


async def test_tokens_of_other_tenants_and_bad_tokens(store: Any) -> None:
    ticket = await _pause(store)
    for token, tenant in ((ticket.token, "evil"), ("x" * 43, "acme"), ("", "acme")):
        with pytest.raises(PauseNotFoundError):
            await store.claim_pause(token, tenant_id=tenant)


async def test_expiry_and_lease_reclaim(store: Any, clock: FakeClock) -> None:
    expiring = await _pause(store, expires=timedelta(minutes=5))
    clock.advance(301)
    assert (await store.get_pause(expiring.token, tenant_id="acme")).status is PauseStatus.EXPIRED
    with pytest.raises(PauseExpiredError):
        await store.claim_pause(expiring.token, tenant_id="acme")

    ticket = await _pause(store)
    first = await store.claim_pause(ticket.token, tenant_id="acme", decision={"a": 1}, lease_s=60)
    await store.renew_lease(first, lease_s=60)
    clock.advance(59)
    with pytest.raises(PauseAlreadyClaimedError):
        await store.claim_pause(ticket.token, tenant_id="acme")
    clock.advance(2)
    second = await store.claim_pause(ticket.token, tenant_id="acme", decision={"a": 2})
    assert second.reclaimed and second.decision == {"a": 1} and second.pause.claim_count == 2
    with pytest.raises(PauseLeaseLostError):
        await store.renew_lease(first)


async def test_release_and_repause(store: Any) -> None:
    ticket = await _pause(store)
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"edit": "bad"})
    released = await store.release_pause(claim)
    assert released.status is PauseStatus.PENDING and released.decision is None
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"ok": True})
    nxt = await store.repause(
        claim,
        outcome={"step": "one"},
        reason="await_input",
        run_state={"step": 4},
        expected_run_version=claim.run.version,
    )
    assert nxt.token != ticket.token and nxt.pause.status is PauseStatus.PENDING
    assert (await store.get_pause(ticket.token, tenant_id="acme")).status is PauseStatus.RESOLVED
    run = await store.get_run(claim.run.run_id, tenant_id="acme")
    assert (run.status, run.version, run.state) == (RunStatus.PAUSED, nxt.run_version, {"step": 4})


async def test_run_leases_and_recovery(store: Any, clock: FakeClock) -> None:
    await store.create_run(tenant_id="acme", run_id="r", owner_id="a", lease_s=30)
    with pytest.raises(RunInUseError):
        await store.claim_run("r", tenant_id="acme", owner_id="b")
    await store.renew_run_lease("r", tenant_id="acme", owner_id="a", lease_s=30)
    clock.advance(31)
    recovered = await asyncio.gather(
        store.recover_stale_runs(owner_id="b"), store.recover_stale_runs(owner_id="c")
    )
    assert sorted(len(found) for found in recovered) == [0, 1]
    with pytest.raises(RunLeaseLostError):
        await store.renew_run_lease("r", tenant_id="acme", owner_id="a")


async def test_journal(store: Any) -> None:
    await store.create_run(tenant_id="acme", run_id="r")
    begun = await store.journal_begin("r", "h", tool="t", args={"x": 1}, tenant_id="acme")
    assert begun.is_new and begun.entry.status is JournalStatus.STARTED
    failed = await store.journal_fail("r", "h", error={"e": "boom"}, tenant_id="acme")
    assert failed.status is JournalStatus.FAILED
    again = await store.journal_begin("r", "h", tool="t", args={"x": 1}, tenant_id="acme")
    assert not again.is_new and again.previous_status is JournalStatus.FAILED
    assert again.entry.attempts == 2
    done = await store.journal_complete("r", "h", result={"y": 2}, tenant_id="acme")
    assert done.status is JournalStatus.COMPLETED and done.result == {"y": 2}
    final = await store.journal_begin("r", "h", tool="t", args={"x": 1}, tenant_id="acme")
    assert final.completed and final.entry.result == {"y": 2}


async def test_memory_versions(store: Any) -> None:
    key = MemoryKey(tenant_id="acme", user_id="u", session_id="s")
    assert await store.load_memory(key) == (None, 0)
    assert await store.save_memory(key, {"turns": [1]}, expected_version=0) == 1
    with pytest.raises(Exception) as conflict:
        await store.save_memory(key, {"turns": [2]}, expected_version=0)
    assert is_conflict(conflict.value)
    assert await store.load_memory(key) == ({"turns": [1]}, 1)
