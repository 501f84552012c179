"""Pauses: atomic commit, hashed tokens, exactly-once claims, expiry, leases, tenants."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from session_helpers import FakeClock, run_sql

from penguiflow.errors import ConfigError
from penguiflow.sessions import (
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseNotFoundError,
    PauseStatus,
    RunStatus,
    SqlSessionStore,
)
from penguiflow.sessions.errors import (
    CorruptRecordError,
    PauseLeaseLostError,
    StaleVersionError,
    StoreBackendError,
)
from penguiflow.sessions.models import PauseTicket

CALLS = [{"tool": "transfer", "args": {"amount": 10}, "call_hash": "h1"}]


async def _pause(
    store: SqlSessionStore, *, tenant: str = "acme", expires: timedelta | None = None
) -> PauseTicket:
    run = await store.create_run(tenant_id=tenant, state={"step": 1})
    return await store.create_pause(
        run.run_id,
        tenant_id=tenant,
        reason="approval_required",
        payload={"question": "transfer 10?"},
        pending_calls=CALLS,
        expires_at=expires,
        run_state={"step": 2, "pending": CALLS},
        expected_run_version=run.version,
    )


async def test_pause_commits_run_state_and_pause(store: SqlSessionStore, db_url: str) -> None:
    ticket = await _pause(store)
    assert len(ticket.token) >= 43  # 32 random bytes, urlsafe base64
    assert ticket.token not in repr(ticket)
    run = await store.get_run(ticket.pause.run_id)
    assert run.status is RunStatus.PAUSED and run.version == ticket.run_version == 2
    assert run.state["step"] == 2
    pause = await store.get_pause(ticket.token, tenant_id="acme")
    assert pause.status is PauseStatus.PENDING and pause.pending_calls == CALLS
    assert pause.payload == {"question": "transfer 10?"}
    rows = await run_sql(db_url, "SELECT token_hash FROM penguiflow_pauses")
    assert rows == [(hashlib.sha256(ticket.token.encode()).hexdigest(),)]
    dump = await run_sql(db_url, "SELECT * FROM penguiflow_pauses")
    assert ticket.token not in repr(dump)


async def test_tokens_are_unique(store: SqlSessionStore) -> None:
    tokens = {(await _pause(store)).token for _ in range(20)}
    assert len(tokens) == 20
    # A token is passed on command lines (`penguiflow resume TOKEN`): never "-..."
    assert all(t.startswith("pf_") and len(t) >= 40 for t in tokens)


async def test_pause_on_stale_run_writes_nothing(store: SqlSessionStore) -> None:
    run = await store.create_run(tenant_id="acme")
    await store.save_run(run.run_id, state={}, status=RunStatus.RUNNING, expected_version=1)
    with pytest.raises(StaleVersionError):
        await store.create_pause(
            run.run_id,
            tenant_id="acme",
            reason="approval_required",
            run_state={"x": 1},
            expected_run_version=1,
        )
    assert await store.list_pauses() == []
    assert (await store.get_run(run.run_id)).status is RunStatus.RUNNING


async def test_pause_commit_failure_leaves_nothing(store: SqlSessionStore, db_url: str) -> None:
    run = await store.create_run(tenant_id="acme", state={"v": 1})
    await run_sql(db_url, "DROP TABLE penguiflow_pauses")
    with pytest.raises(StoreBackendError, match="create_pause"):
        await store.create_pause(
            run.run_id,
            tenant_id="acme",
            reason="approval_required",
            run_state={"v": 2},
            expected_run_version=1,
        )
    after = await store.get_run(run.run_id)
    assert after.version == 1 and after.state == {"v": 1}  # run update rolled back


async def test_concurrent_claims_exactly_one_wins(store: SqlSessionStore) -> None:
    ticket = await _pause(store)

    async def claim(i: int) -> str:
        try:
            await store.claim_pause(ticket.token, tenant_id="acme", decision={"by": i})
        except PauseAlreadyClaimedError:
            return "lost"
        return "won"

    outcomes = await asyncio.gather(*(claim(i) for i in range(50)))
    assert outcomes.count("won") == 1 and outcomes.count("lost") == 49
    pause = await store.get_pause(ticket.token, tenant_id="acme")
    assert pause.status is PauseStatus.CLAIMED and pause.claim_count == 1


async def test_claim_complete_then_already_resumed(store: SqlSessionStore) -> None:
    ticket = await _pause(store)
    claim = await store.claim_pause(
        ticket.token, tenant_id="acme", decision={"approve": True}, lease_s=60
    )
    assert claim.decision == {"approve": True} and not claim.reclaimed
    assert claim.run.state["step"] == 2 and claim.run.version == 2
    run = await store.complete_pause(
        claim,
        run_state={"step": 3},
        run_status=RunStatus.FINISHED,
        expected_run_version=claim.run.version,
        outcome={"answer": "done"},
    )
    assert run.status is RunStatus.FINISHED and run.version == 3
    with pytest.raises(PauseAlreadyResumedError) as info:
        await store.claim_pause(ticket.token, tenant_id="acme", decision={"approve": False})
    assert info.value.outcome == {"answer": "done"}
    assert isinstance(info.value, PauseAlreadyClaimedError)
    with pytest.raises(PauseLeaseLostError):
        await store.complete_pause(
            claim, run_state={}, run_status=RunStatus.FINISHED, expected_run_version=3
        )
    pause = await store.get_pause(ticket.token, tenant_id="acme")
    assert pause.status is PauseStatus.RESOLVED and pause.outcome == {"answer": "done"}


async def test_complete_with_stale_run_keeps_claim(store: SqlSessionStore) -> None:
    ticket = await _pause(store)
    claim = await store.claim_pause(ticket.token, tenant_id="acme")
    with pytest.raises(StaleVersionError):
        await store.complete_pause(
            claim, run_state={}, run_status=RunStatus.FINISHED, expected_run_version=1
        )
    assert (await store.get_pause(ticket.token, tenant_id="acme")).status is PauseStatus.CLAIMED


async def test_other_tenant_token_is_not_found(store: SqlSessionStore) -> None:
    ticket = await _pause(store, tenant="acme")
    with pytest.raises(PauseNotFoundError) as other:
        await store.claim_pause(ticket.token, tenant_id="evil", decision={"approve": True})
    with pytest.raises(PauseNotFoundError) as unknown:
        await store.claim_pause("x" * 43, tenant_id="evil")
    assert str(other.value) == str(unknown.value)  # indistinguishable: no existence leak
    with pytest.raises(PauseNotFoundError):
        await store.get_pause(ticket.token, tenant_id="evil")
    with pytest.raises(PauseNotFoundError):
        await store.get_pause(ticket.token)  # the default tenant is another tenant
    assert await store.list_pauses(tenant_id="evil") == []
    pause = await store.get_pause(ticket.token, tenant_id="acme")
    assert pause.status is PauseStatus.PENDING and pause.decision is None  # untouched


async def test_bad_tokens(store: SqlSessionStore) -> None:
    for token in ("", "y" * 10_000):
        with pytest.raises(PauseNotFoundError):
            await store.claim_pause(token)
    with pytest.raises(ConfigError, match="str"):
        await store.claim_pause(b"bytes")  # type: ignore[arg-type]
    ticket = await _pause(store)
    with pytest.raises(ConfigError, match="lease_s"):
        await store.claim_pause(ticket.token, tenant_id="acme", lease_s=0)


async def test_expired_pause(clocked_store: SqlSessionStore, clock: FakeClock) -> None:
    ticket = await _pause(clocked_store, expires=timedelta(minutes=5))
    clock.advance(299)
    assert (await clocked_store.get_pause(ticket.token, tenant_id="acme")).status == "pending"
    clock.advance(2)
    pause = await clocked_store.get_pause(ticket.token, tenant_id="acme")
    assert pause.status is PauseStatus.EXPIRED
    with pytest.raises(PauseExpiredError) as info:
        await clocked_store.claim_pause(ticket.token, tenant_id="acme")
    assert info.value.pause_id == ticket.pause.pause_id
    assert [p.pause_id for p in await clocked_store.list_pauses(status=PauseStatus.EXPIRED)] == [
        ticket.pause.pause_id
    ]
    assert await clocked_store.list_pauses(status=PauseStatus.PENDING) == []


async def test_expires_at_must_be_aware(store: SqlSessionStore) -> None:
    run = await store.create_run()
    with pytest.raises(ConfigError, match="timezone-aware"):
        await store.create_pause(
            run.run_id,
            reason="r",
            run_state={},
            expected_run_version=1,
            expires_at=datetime(2030, 1, 1),
        )
    ticket = await store.create_pause(
        run.run_id,
        reason="r",
        run_state={},
        expected_run_version=1,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert ticket.pause.expires_at == datetime(2030, 1, 1, tzinfo=UTC)


async def test_lease_expiry_allows_reclaim(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    store = clocked_store
    ticket = await _pause(store, expires=timedelta(seconds=30))
    first = await store.claim_pause(
        ticket.token, tenant_id="acme", decision={"approve": True}, lease_s=60
    )
    clock.advance(59)
    with pytest.raises(PauseAlreadyClaimedError) as held:
        await store.claim_pause(ticket.token, tenant_id="acme", decision={"approve": False})
    assert not isinstance(held.value, PauseAlreadyResumedError)
    clock.advance(2)  # first resumer "crashed": lease over (and the pause's expiry passed)
    second = await store.claim_pause(
        ticket.token, tenant_id="acme", decision={"approve": False}, lease_s=60
    )
    assert second.reclaimed and second.decision == {"approve": True}  # first decision kept
    assert second.pause.claim_count == 2 and second.claim_id != first.claim_id
    with pytest.raises(PauseLeaseLostError):
        await store.renew_lease(first)
    with pytest.raises(PauseLeaseLostError):
        await store.complete_pause(
            first, run_state={}, run_status=RunStatus.FINISHED, expected_run_version=2
        )
    await store.complete_pause(
        second, run_state={}, run_status=RunStatus.FINISHED, expected_run_version=2
    )


async def test_renew_lease_keeps_claim(clocked_store: SqlSessionStore, clock: FakeClock) -> None:
    ticket = await _pause(clocked_store)
    claim = await clocked_store.claim_pause(ticket.token, tenant_id="acme", lease_s=10)
    clock.advance(8)
    new_end = await clocked_store.renew_lease(claim, lease_s=10)
    assert new_end == datetime.fromtimestamp(clock.now + 10, tz=UTC)
    clock.advance(8)  # past the first lease, within the renewed one
    with pytest.raises(PauseAlreadyClaimedError):
        await clocked_store.claim_pause(ticket.token, tenant_id="acme")


async def test_release_makes_pause_pending_again(store: SqlSessionStore) -> None:
    ticket = await _pause(store)
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"edit": "bad"})
    released = await store.release_pause(claim)
    assert released.status is PauseStatus.PENDING and released.decision is None
    with pytest.raises(PauseLeaseLostError):
        await store.release_pause(claim)
    again = await store.claim_pause(ticket.token, tenant_id="acme", decision={"edit": "good"})
    assert again.decision == {"edit": "good"} and again.reclaimed


async def test_list_and_get_by_id(store: SqlSessionStore) -> None:
    a = await _pause(store, tenant="t1")
    b = await _pause(store, tenant="t2")
    await store.claim_pause(b.token, tenant_id="t2")
    assert {p.pause_id for p in await store.list_pauses()} == {a.pause.pause_id, b.pause.pause_id}
    assert [p.pause_id for p in await store.list_pauses(tenant_id="t1")] == [a.pause.pause_id]
    claimed = await store.list_pauses(status=PauseStatus.CLAIMED)
    assert [p.pause_id for p in claimed] == [b.pause.pause_id]
    assert [p.pause_id for p in await store.list_pauses(run_id=a.pause.run_id)] == [
        a.pause.pause_id
    ]
    assert (await store.get_pause_by_id(a.pause.pause_id)).tenant_id == "t1"
    with pytest.raises(PauseNotFoundError):
        await store.get_pause_by_id(a.pause.pause_id, tenant_id="t2")


async def test_corrupt_pause_is_not_claimed(store: SqlSessionStore, db_url: str) -> None:
    ticket = await _pause(store)
    await run_sql(db_url, "UPDATE penguiflow_pauses SET pending_calls = '[1, 2'")
    with pytest.raises(CorruptRecordError, match="penguiflow_pauses"):
        await store.claim_pause(ticket.token, tenant_id="acme")
    rows = await run_sql(db_url, "SELECT status, claim_count FROM penguiflow_pauses")
    assert rows == [("pending", 0)]  # the failed claim was rolled back


async def test_corrupt_run_state_rolls_back_claim(store: SqlSessionStore, db_url: str) -> None:
    ticket = await _pause(store)
    await run_sql(db_url, "UPDATE penguiflow_runs SET state = 'garbage'")
    with pytest.raises(CorruptRecordError, match="penguiflow_runs"):
        await store.claim_pause(ticket.token, tenant_id="acme")
    assert (await store.get_pause(ticket.token, tenant_id="acme")).status is PauseStatus.PENDING
