"""repause: resolve a claimed pause and open the next one in a single transaction."""

from __future__ import annotations

import pytest
from session_helpers import FakeClock

from penguiflow.sessions import PauseAlreadyResumedError, PauseStatus, RunStatus, SqlSessionStore
from penguiflow.sessions.errors import PauseLeaseLostError, StaleVersionError
from penguiflow.sessions.models import PauseTicket

CALLS = [{"tool": "transfer", "args": {"amount": 10}, "call_hash": "h1"}]


async def _claimed(store: SqlSessionStore) -> tuple[PauseTicket, object]:
    run = await store.create_run(tenant_id="acme", state={"step": 1})
    ticket = await store.create_pause(
        run.run_id,
        tenant_id="acme",
        reason="approval_required",
        pending_calls=CALLS,
        run_state={"step": 2},
        expected_run_version=run.version,
    )
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"approve": True})
    return ticket, claim


async def test_repause_resolves_the_old_pause_and_opens_a_new_one(store: SqlSessionStore) -> None:
    first, claim = await _claimed(store)
    second = await store.repause(
        claim,  # type: ignore[arg-type]
        outcome={"calls": ["approved"]},
        reason="await_input",
        payload={"question": "code?"},
        pending_calls=[{"tool": "transfer", "kind": "input"}],
        run_state={"step": 3},
        expected_run_version=first.run_version,
    )
    assert second.token != first.token
    assert second.run_version == first.run_version + 1
    run = await store.get_run(first.pause.run_id)
    assert (run.status, run.state) == (RunStatus.PAUSED, {"step": 3})
    with pytest.raises(PauseAlreadyResumedError) as caught:
        await store.claim_pause(first.token, tenant_id="acme")
    assert caught.value.outcome == {"calls": ["approved"]}
    pending = await store.list_pauses(tenant_id="acme", status=PauseStatus.PENDING)
    assert [p.pause_id for p in pending] == [second.pause.pause_id]
    assert pending[0].payload == {"question": "code?"}
    new_claim = await store.claim_pause(second.token, tenant_id="acme")
    assert new_claim.run.state == {"step": 3}


async def test_repause_changes_nothing_when_it_fails(db_url: str) -> None:
    clock = FakeClock()
    async with SqlSessionStore(db_url, clock=clock) as store:
        first, claim = await _claimed(store)
        with pytest.raises(StaleVersionError):
            await store.repause(
                claim,  # type: ignore[arg-type]
                reason="again",
                run_state={"step": 3},
                expected_run_version=first.run_version + 7,
            )
        [only] = await store.list_pauses(run_id=first.pause.run_id)
        assert only.status is PauseStatus.CLAIMED  # still held, no second pause
        clock.advance(3600)  # the lease ran out and someone else took the pause
        await store.claim_pause(first.token, tenant_id="acme")
        with pytest.raises(PauseLeaseLostError):
            await store.repause(
                claim,  # type: ignore[arg-type]
                reason="again",
                run_state={"step": 3},
                expected_run_version=first.run_version,
            )
        assert len(await store.list_pauses(run_id=first.pause.run_id)) == 1
        assert (await store.get_run(first.pause.run_id)).state == {"step": 2}
