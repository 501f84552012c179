"""Pauses: commit with the run state, look up by token, claim exactly once, complete.

A resume token is ``"pf_"`` followed by ``secrets.token_urlsafe(32)`` (256 random bits;
the prefix keeps it from starting with ``-``, which command lines would read as an option). Only its SHA-256 hash
is stored. Claiming is one conditional ``UPDATE ... WHERE status = 'pending'`` whose row
count decides the winner; it behaves the same on SQLite (writers serialised by
``BEGIN IMMEDIATE``) and PostgreSQL (the row lock makes a concurrent UPDATE re-check the
condition). A claim holds a lease; if the resumer dies, the pause can be claimed again
once the lease has expired, so a pause is never lost.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import encode, epoch, to_datetime, to_datetime_required
from ._rows import check_id, check_json_objects, check_positive, pause_from_row, run_from_row
from ._runs import RunsMixin
from ._tables import pauses
from .errors import (
    PauseAlreadyClaimed,
    PauseAlreadyResumed,
    PauseExpired,
    PauseLeaseLost,
    PauseNotFound,
    RunNotFoundError,
)
from .models import (
    DEFAULT_TENANT,
    PauseClaim,
    PauseRecord,
    PauseStatus,
    PauseTicket,
    RunRecord,
    RunStatus,
)

__all__ = ["TOKEN_PREFIX", "PausesMixin", "hash_token", "pause_values"]

TOKEN_PREFIX = "pf_"
"""Every resume token starts with this, so it never looks like a command-line option."""

_MAX_TOKEN_LEN = 512
_CLAIM_ATTEMPTS = 3


def hash_token(token: str) -> str:
    """Return the stored form of a resume token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_hash(token: object) -> str:
    if not isinstance(token, str):
        raise ConfigError(f"a resume token must be a str, got {type(token).__name__}")
    if not token or len(token) > _MAX_TOKEN_LEN:
        raise PauseNotFound()
    return hash_token(token)


def pause_values(
    reason: object,
    payload: Mapping[str, Any] | None,
    pending_calls: Sequence[Mapping[str, Any]],
    expires_at: datetime | timedelta | None,
    now: float,
) -> dict[str, Any]:
    """Check and encode the caller's fields of a new pause."""
    if not isinstance(reason, str) or not reason:
        raise ConfigError(f"reason must be a non-empty string, got {reason!r}")
    calls = check_json_objects("pending_calls", pending_calls)
    return {
        "reason": reason,
        "payload": encode(None if payload is None else dict(payload), what="pause payload"),
        "pending_calls": encode(calls, what="pending calls"),
        "expires_at": epoch(expires_at, now=now, name="expires_at"),
    }


class PausesMixin(RunsMixin):
    """Pause operations of :class:`~penguiflow.sessions.SqlSessionStore`."""

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
        now = self._now()
        values = pause_values(reason, payload, pending_calls, expires_at, now)
        state_text = encode(dict(run_state), what="run state")
        async with self._transaction("create_pause", write=True) as conn:
            version = await self._update_run(
                conn,
                run_id,
                tenant_id,
                state_text,
                RunStatus.PAUSED,
                expected_run_version,
                now,
            )
            token, row = await self._insert_pause(conn, run_id, tenant_id, values, now)
        return PauseTicket(token=token, pause=pause_from_row(row, now=now), run_version=version)

    async def get_pause(self, token: str, *, tenant_id: str = DEFAULT_TENANT) -> PauseRecord:
        """Return the pause a resume token belongs to.

        Raises:
            PauseNotFound: unknown token, pruned pause, or another tenant's token.
        """
        token_hash = _token_hash(token)
        async with self._transaction("get_pause", write=False) as conn:
            row = await self._pause_row(
                conn, pauses.c.token_hash == token_hash, pauses.c.tenant_id == tenant_id
            )
        if row is None:
            raise PauseNotFound()
        return pause_from_row(row, now=self._now())

    async def get_pause_by_id(self, pause_id: str, *, tenant_id: str | None = None) -> PauseRecord:
        """Return a pause by its id (for operators; the id cannot resume anything).

        Args:
            pause_id: the pause's id.
            tenant_id: when given, the pause must belong to this tenant.

        Raises:
            PauseNotFound: no such pause (for this tenant).
        """
        conditions = [pauses.c.pause_id == pause_id]
        if tenant_id is not None:
            conditions.append(pauses.c.tenant_id == tenant_id)
        async with self._transaction("get_pause_by_id", write=False) as conn:
            row = await self._pause_row(conn, *conditions)
        if row is None:
            raise PauseNotFound()
        return pause_from_row(row, now=self._now())

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
        now = self._now()
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
        async with self._transaction("list_pauses", write=False) as conn:
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
        :class:`PauseAlreadyClaimed`. The winner holds a lease of ``lease_s`` seconds and
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
            PauseNotFound: unknown token, pruned pause, or another tenant's token.
            PauseExpired: the pause expired before it was claimed.
            PauseAlreadyClaimed: another resumer holds the pause.
            PauseAlreadyResumed: the pause was already completed (carries its outcome).
            CorruptRecordError: the pause or run cannot be read (the claim is not taken).
        """
        token_hash = _token_hash(token)
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
        now = self._now()
        claim_id = uuid.uuid4().hex
        c = pauses.c
        mine = [c.token_hash == token_hash, c.tenant_id == tenant_id]
        claimable = or_(
            and_(
                c.status == PauseStatus.PENDING.value,
                or_(c.expires_at.is_(None), c.expires_at > now),
            ),
            and_(c.status == PauseStatus.CLAIMED.value, c.lease_until <= now),
        )
        stmt = (
            update(pauses)
            .where(*mine, claimable)
            .values(
                status=PauseStatus.CLAIMED.value,
                claim_id=claim_id,
                claimed_at=now,
                lease_until=now + lease,
                claim_count=c.claim_count + 1,
                decision=case(
                    (c.status == PauseStatus.PENDING.value, decision_text), else_=c.decision
                ),
            )
        )
        async with self._transaction("claim_pause", write=True) as conn:
            won = (await conn.execute(stmt)).rowcount == 1
            row = await self._pause_row(conn, *mine)
            if won:
                pause = pause_from_row(row, now=now)
                run_row = await self._run_row(conn, row.run_id, tenant_id)
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
            raise PauseNotFound()
        self._raise_unclaimable(row, now)
        if last:
            raise PauseAlreadyClaimed(
                pause_id=row.pause_id, run_id=row.run_id, lease_until=to_datetime(row.lease_until)
            )
        return None

    @staticmethod
    def _raise_unclaimable(row: Any, now: float) -> None:
        if row.status == PauseStatus.RESOLVED.value:
            record = pause_from_row(row, now=now)
            raise PauseAlreadyResumed(
                pause_id=row.pause_id,
                run_id=row.run_id,
                outcome=record.outcome,
                resolved_at=record.resolved_at,
            )
        if row.status == PauseStatus.CLAIMED.value and (
            row.lease_until is None or row.lease_until > now
        ):
            raise PauseAlreadyClaimed(
                pause_id=row.pause_id, run_id=row.run_id, lease_until=to_datetime(row.lease_until)
            )
        if (
            row.status == PauseStatus.PENDING.value
            and row.expires_at is not None
            and row.expires_at <= now
        ):
            raise PauseExpired(
                pause_id=row.pause_id, run_id=row.run_id, expired_at=to_datetime(row.expires_at)
            )

    async def renew_lease(self, claim: PauseClaim, *, lease_s: float = 300.0) -> datetime:
        """Extend a claim's lease by ``lease_s`` seconds from now; return the new end.

        Raises:
            PauseLeaseLost: the claim no longer holds the pause.
        """
        lease = check_positive("lease_s", lease_s)
        now = self._now()
        async with self._transaction("renew_lease", write=True) as conn:
            await self._update_claimed(conn, claim, lease_until=now + lease)
        return to_datetime_required(now + lease)

    async def release_pause(self, claim: PauseClaim) -> PauseRecord:
        """Give a claimed pause back: pending again, decision cleared.

        Use it when the resume cannot go ahead and the human must decide again (for
        example edited arguments failed validation). Nothing may have run yet.

        Raises:
            PauseLeaseLost: the claim no longer holds the pause.
        """
        async with self._transaction("release_pause", write=True) as conn:
            await self._update_claimed(
                conn,
                claim,
                status=PauseStatus.PENDING.value,
                claim_id=None,
                lease_until=None,
                decision=None,
            )
            row = await self._pause_row(conn, pauses.c.pause_id == claim.pause.pause_id)
        return pause_from_row(row, now=self._now())

    async def complete_pause(
        self,
        claim: PauseClaim,
        *,
        run_state: Mapping[str, Any],
        run_status: RunStatus,
        expected_run_version: int,
        outcome: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Resolve a claimed pause and save the run's new state in one transaction.

        Args:
            claim: the claim returned by :meth:`claim_pause`.
            run_state: the run's new serialised state.
            run_status: the run's new status.
            expected_run_version: the run version the new state was derived from.
            outcome: what to report to later resume attempts (plain JSON object).

        Returns:
            The saved run.

        Raises:
            PauseLeaseLost: the lease expired and another process claimed the pause.
            StaleVersionError: the run was saved by someone else meanwhile.
        """
        state_text = encode(dict(run_state), what="run state")
        outcome_text = encode(None if outcome is None else dict(outcome), what="pause outcome")
        run_status = RunStatus(run_status)
        now = self._now()
        async with self._transaction("complete_pause", write=True) as conn:
            await self._update_claimed(
                conn,
                claim,
                status=PauseStatus.RESOLVED.value,
                outcome=outcome_text,
                resolved_at=now,
                lease_until=None,
            )
            await self._update_run(
                conn,
                claim.run.run_id,
                claim.pause.tenant_id,
                state_text,
                run_status,
                expected_run_version,
                now,
            )
            row = await self._run_row(conn, claim.run.run_id, claim.pause.tenant_id)
        return run_from_row(row)

    # -- helpers -------------------------------------------------------------------------

    async def _insert_pause(
        self,
        conn: AsyncConnection,
        run_id: str,
        tenant_id: str,
        values: dict[str, Any],
        now: float,
    ) -> tuple[str, Any]:
        """Insert a pending pause; return its new token and its row."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        pause_id = uuid.uuid4().hex
        await conn.execute(
            insert(pauses).values(
                pause_id=pause_id,
                token_hash=hash_token(token),
                run_id=run_id,
                tenant_id=tenant_id,
                status=PauseStatus.PENDING.value,
                created_at=now,
                claim_count=0,
                **values,
            )
        )
        return token, await self._pause_row(conn, pauses.c.pause_id == pause_id)

    async def _pause_row(self, conn: AsyncConnection, *conditions: Any) -> Any:
        return (await conn.execute(select(pauses).where(*conditions))).one_or_none()

    async def _update_claimed(
        self, conn: AsyncConnection, claim: PauseClaim, **values: Any
    ) -> None:
        stmt = (
            update(pauses)
            .where(
                pauses.c.pause_id == claim.pause.pause_id,
                pauses.c.claim_id == claim.claim_id,
                pauses.c.status == PauseStatus.CLAIMED.value,
            )
            .values(**values)
        )
        if (await conn.execute(stmt)).rowcount != 1:
            raise PauseLeaseLost(pause_id=claim.pause.pause_id, run_id=claim.pause.run_id)
