"""The pauses part of the store: commit, look up, claim exactly once, renew, complete.

Claiming is one conditional ``UPDATE ... WHERE status = 'pending'`` whose row count
decides the winner; it behaves the same on SQLite (writers serialised by
``BEGIN IMMEDIATE``) and PostgreSQL (the row lock makes a concurrent UPDATE re-check the
condition). A claim holds a lease; if the resumer dies, the pause can be claimed again
once the lease has expired, so a pause is never lost. A pause is resolved (or resolved
and followed by the run's next pause) in the same transaction that saves the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from ._codec import encode, to_datetime, to_datetime_required
from ._database import Database
from ._pause_sql import (
    checked_token_hash,
    claim_statement,
    insert_pause,
    pause_values,
    raise_unclaimable,
    select_pause,
    update_claimed,
)
from ._rows import check_id, check_positive, pause_from_row, run_from_row
from ._run_sql import select_run, update_run
from ._tables import pauses
from .errors import PauseAlreadyClaimedError, PauseNotFoundError, RunNotFoundError
from .models import (
    DEFAULT_TENANT,
    PauseClaim,
    PauseRecord,
    PauseStatus,
    PauseTicket,
    RunRecord,
    RunStatus,
)

__all__ = ["Pauses"]

_CLAIM_ATTEMPTS = 3


class Pauses:
    """Pauses of a store (``store.pauses``); a :class:`~penguiflow.sessions.PauseStore`.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_pause(
        self,
        run_id: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Commit the run's state and a new pause in one transaction; return the token.

        The run's status becomes ``paused``. Nothing is written unless both succeed, so a
        token is only ever handed out for a pause that is durably stored.

        Args:
            run_id: the run being paused.
            tenant_id: the run's tenant; the token only works for this tenant.
            reason: why the run paused (``approval_required``, ``await_input``, ...).
            payload: what the human needs to decide (plain JSON object).
            pending_calls: the tool calls awaiting approval (plain JSON objects).
            expires_at: when the pause stops being claimable: an aware datetime, a
                timedelta from now, or ``None`` for never.
            run_state: the run's serialised state to resume from (plain JSON object).
            expected_run_version: the run version ``run_state`` was derived from.

        Returns:
            The ticket with the plain-text token (the only copy) and the stored pause.

        Raises:
            StaleVersionError: the run was saved by someone else meanwhile.
            RunNotFoundError: no such run for this tenant.
            UnserializableRecordError: an argument is not plain JSON.
            StoreBackendError: the commit failed; no pause exists.
        """
        check_id("tenant_id", tenant_id)
        now = self._db.now()
        values = pause_values(reason, payload, pending_calls, expires_at, now)
        state_text = encode(dict(run_state), what="run state")
        async with self._db.transaction("create_pause", write=True) as conn:
            version = await update_run(
                conn,
                run_id,
                tenant_id,
                state_text,
                RunStatus.PAUSED,
                expected_run_version,
                now,
            )
            token, row = await insert_pause(conn, run_id, tenant_id, values, now)
        return PauseTicket(token=token, pause=pause_from_row(row, now=now), run_version=version)

    async def get_pause(self, token: str, *, tenant_id: str = DEFAULT_TENANT) -> PauseRecord:
        """Return the pause a resume token belongs to.

        Raises:
            PauseNotFoundError: unknown token, pruned pause, or another tenant's token.
        """
        token_hash = checked_token_hash(token)
        async with self._db.transaction("get_pause", write=False) as conn:
            row = await select_pause(
                conn, pauses.c.token_hash == token_hash, pauses.c.tenant_id == tenant_id
            )
        if row is None:
            raise PauseNotFoundError()
        return pause_from_row(row, now=self._db.now())

    async def get_pause_by_id(self, pause_id: str, *, tenant_id: str | None = None) -> PauseRecord:
        """Return a pause by its id (for operators; the id cannot resume anything).

        Args:
            pause_id: the pause's id.
            tenant_id: when given, the pause must belong to this tenant.

        Raises:
            PauseNotFoundError: no such pause (for this tenant).
        """
        conditions = [pauses.c.pause_id == pause_id]
        if tenant_id is not None:
            conditions.append(pauses.c.tenant_id == tenant_id)
        async with self._db.transaction("get_pause_by_id", write=False) as conn:
            row = await select_pause(conn, *conditions)
        if row is None:
            raise PauseNotFoundError()
        return pause_from_row(row, now=self._db.now())

    async def list_pauses(
        self,
        *,
        tenant_id: str | None = None,
        status: PauseStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[PauseRecord]:
        """List pauses, newest first (never their tokens).

        Args:
            tenant_id: only this tenant's pauses (``None``: all tenants, for operators).
            status: only pauses in this status; ``pending`` excludes expired ones and
                ``expired`` lists pending pauses past their ``expires_at``.
            run_id: only the pauses of this run.
            limit: at most this many pauses.
        """
        now = self._db.now()
        stmt = select(pauses).order_by(pauses.c.created_at.desc(), pauses.c.pause_id)
        if tenant_id is not None:
            stmt = stmt.where(pauses.c.tenant_id == tenant_id)
        if run_id is not None:
            stmt = stmt.where(pauses.c.run_id == run_id)
        if status is not None:
            status = PauseStatus(status)
            not_expired = or_(pauses.c.expires_at.is_(None), pauses.c.expires_at > now)
            if status is PauseStatus.PENDING:
                stmt = stmt.where(pauses.c.status == status.value, not_expired)
            elif status is PauseStatus.EXPIRED:
                stmt = stmt.where(
                    pauses.c.status == PauseStatus.PENDING.value, pauses.c.expires_at <= now
                )
            else:
                stmt = stmt.where(pauses.c.status == status.value)
        async with self._db.transaction("list_pauses", write=False) as conn:
            rows = (await conn.execute(stmt.limit(limit))).all()
        return [pause_from_row(row, now=now) for row in rows]

    async def claim_pause(
        self,
        token: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        decision: Mapping[str, Any] | None = None,
        lease_s: float = 300.0,
    ) -> PauseClaim:
        """Claim a pause exclusively, exactly once among all processes.

        Exactly one of any number of concurrent claimers wins; the others get
        :class:`PauseAlreadyClaimedError`. The winner holds a lease of ``lease_s`` seconds and
        must call :meth:`complete_pause` (or :meth:`release_pause`) before it ends, or
        :meth:`renew_lease` to extend it. If it does not (the process died), the pause can
        be claimed again after the lease; the new claim keeps the first claim's decision
        and has ``reclaimed=True``.

        Args:
            token: the resume token from :meth:`create_pause`.
            tenant_id: the tenant resuming; another tenant's token is not found.
            decision: the human's decision (plain JSON object), recorded with the claim.
            lease_s: how long the claim is held without renewal.

        Returns:
            The claim with the paused run.

        Raises:
            PauseNotFoundError: unknown token, pruned pause, or another tenant's token.
            PauseExpiredError: the pause expired before it was claimed.
            PauseAlreadyClaimedError: another resumer holds the pause.
            PauseAlreadyResumedError: the pause was already completed (carries its outcome).
            CorruptRecordError: the pause or run cannot be read (the claim is not taken).
        """
        token_hash = checked_token_hash(token)
        lease = check_positive("lease_s", lease_s)
        decision_text = encode(None if decision is None else dict(decision), what="resume decision")
        for attempt in range(1, _CLAIM_ATTEMPTS + 1):
            claim = await self._try_claim(
                token_hash, tenant_id, decision_text, lease, last=attempt == _CLAIM_ATTEMPTS
            )
            if claim is not None:
                return claim
        raise AssertionError("unreachable: the last claim attempt returns or raises")

    async def _try_claim(
        self, token_hash: str, tenant_id: str, decision_text: str, lease: float, *, last: bool
    ) -> PauseClaim | None:
        """Make one claim attempt: return the claim, raise why not, or return ``None``.

        ``None`` means the pause changed between the UPDATE and the SELECT (a race with a
        release); the caller tries again.
        """
        now = self._db.now()
        claim_id = uuid.uuid4().hex
        mine = [pauses.c.token_hash == token_hash, pauses.c.tenant_id == tenant_id]
        stmt = claim_statement(
            mine, claim_id=claim_id, decision_text=decision_text, now=now, lease=lease
        )
        async with self._db.transaction("claim_pause", write=True) as conn:
            won = (await conn.execute(stmt)).rowcount == 1
            row = await select_pause(conn, *mine)
            if won:
                pause = pause_from_row(row, now=now)
                run_row = await select_run(conn, row.run_id, tenant_id)
                if run_row is None:
                    raise RunNotFoundError(run_id=row.run_id)
                return PauseClaim(
                    claim_id=claim_id,
                    pause=pause,
                    run=run_from_row(run_row),
                    decision=pause.decision,
                    lease_until=to_datetime_required(now + lease),
                    reclaimed=row.claim_count > 1,
                )
        if row is None:
            raise PauseNotFoundError()
        raise_unclaimable(row, now)
        if last:
            raise PauseAlreadyClaimedError(
                pause_id=row.pause_id, run_id=row.run_id, lease_until=to_datetime(row.lease_until)
            )
        return None

    async def renew_lease(self, claim: PauseClaim, *, lease_s: float = 300.0) -> datetime:
        """Extend a claim's lease by ``lease_s`` seconds from now; return the new end.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        lease = check_positive("lease_s", lease_s)
        now = self._db.now()
        async with self._db.transaction("renew_lease", write=True) as conn:
            await update_claimed(conn, claim, lease_until=now + lease)
        return to_datetime_required(now + lease)

    async def release_pause(self, claim: PauseClaim) -> PauseRecord:
        """Give a claimed pause back: pending again, decision cleared.

        Use it when the resume cannot go ahead and the human must decide again (for
        example edited arguments failed validation). Nothing may have run yet.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        async with self._db.transaction("release_pause", write=True) as conn:
            await update_claimed(
                conn,
                claim,
                status=PauseStatus.PENDING.value,
                claim_id=None,
                lease_until=None,
                decision=None,
            )
            row = await select_pause(conn, pauses.c.pause_id == claim.pause.pause_id)
        return pause_from_row(row, now=self._db.now())

    async def complete_pause(
        self,
        claim: PauseClaim,
        *,
        run_state: Mapping[str, Any],
        run_status: RunStatus,
        expected_run_version: int,
        outcome: Mapping[str, Any] | None = None,
        owner_id: str | None = None,
        lease_s: float = 30.0,
    ) -> RunRecord:
        """Resolve a claimed pause and save the run's new state in one transaction.

        Args:
            claim: the claim returned by :meth:`claim_pause`.
            run_state: the run's new serialised state.
            run_status: the run's new status.
            expected_run_version: the run version the new state was derived from.
            outcome: what to report to later resume attempts (plain JSON object).
            owner_id: with ``run_status`` ``running``: the process that continues the run,
                which holds a lease of ``lease_s`` seconds on it from this commit on (see
                ``store.runs.renew_run_lease``). If it dies, the run can be recovered
                with ``recover_stale_runs`` once the lease lapses.
            lease_s: the owner's lease.

        Returns:
            The saved run.

        Raises:
            PauseLeaseLostError: the lease expired and another process claimed the pause.
            StaleVersionError: the run was saved by someone else meanwhile.
        """
        state_text = encode(dict(run_state), what="run state")
        outcome_text = encode(None if outcome is None else dict(outcome), what="pause outcome")
        run_status = RunStatus(run_status)
        now = self._db.now()
        owner = None
        if owner_id is not None:
            owner = (check_id("owner_id", owner_id), now + check_positive("lease_s", lease_s))
        async with self._db.transaction("complete_pause", write=True) as conn:
            await update_claimed(
                conn,
                claim,
                status=PauseStatus.RESOLVED.value,
                outcome=outcome_text,
                resolved_at=now,
                lease_until=None,
            )
            await update_run(
                conn,
                claim.run.run_id,
                claim.pause.tenant_id,
                state_text,
                run_status,
                expected_run_version,
                now,
                owner=owner,
            )
            row = await select_run(conn, claim.run.run_id, claim.pause.tenant_id)
        return run_from_row(row)

    async def repause(
        self,
        claim: PauseClaim,
        *,
        outcome: Mapping[str, Any] | None = None,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Resolve the claimed pause and create the run's next pause, atomically.

        Equivalent to :meth:`complete_pause` followed by :meth:`create_pause`, in one
        transaction: if it fails, the claimed pause stays claimed and no new token exists.

        A resume may end in a new pause straight away (an approved tool asks for input, or
        the join of a parallel step needs approval). Doing both at once means a crash
        leaves either the first pause claimed (reclaimable after its lease) or the second
        one pending with its token handed out, never the first resolved and no second.

        Args:
            claim: the claim returned by :meth:`claim_pause`.
            outcome: what to report to later resume attempts of the claimed pause.
            reason: why the run pauses again.
            payload: what the human needs to decide (plain JSON object).
            pending_calls: the calls the new pause waits on (plain JSON objects).
            expires_at: when the new pause expires (aware datetime, timedelta, or ``None``).
            run_state: the run's serialised state to resume from.
            expected_run_version: the run version ``run_state`` was derived from.

        Returns:
            The ticket of the new pause (its token is the only copy).

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
            StaleVersionError: the run was saved by someone else meanwhile.
            UnserializableRecordError: an argument is not plain JSON.
            StoreBackendError: the commit failed; nothing changed.
        """
        now = self._db.now()
        values = pause_values(reason, payload, pending_calls, expires_at, now)
        state_text = encode(dict(run_state), what="run state")
        outcome_text = encode(None if outcome is None else dict(outcome), what="pause outcome")
        run_id, tenant_id = claim.run.run_id, claim.pause.tenant_id
        async with self._db.transaction("repause", write=True) as conn:
            await update_claimed(
                conn,
                claim,
                status=PauseStatus.RESOLVED.value,
                outcome=outcome_text,
                resolved_at=now,
                lease_until=None,
            )
            version = await update_run(
                conn, run_id, tenant_id, state_text, RunStatus.PAUSED, expected_run_version, now
            )
            token, row = await insert_pause(conn, run_id, tenant_id, values, now)
        return PauseTicket(token=token, pause=pause_from_row(row, now=now), run_version=version)
