"""Pause rows: tokens and their hashes, new-pause values, and the statements on one pause.

A resume token is ``"pf_"`` followed by ``secrets.token_urlsafe(32)`` (256 random bits;
the prefix keeps it from starting with ``-``, which command lines would read as an
option). Only its SHA-256 hash is stored.

Every helper taking a connection runs inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import encode, epoch, to_datetime
from ._rows import check_json_objects, pause_from_row
from ._tables import pauses
from .errors import (
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseLeaseLostError,
    PauseNotFoundError,
)
from .models import PauseClaim, PauseStatus

__all__ = [
    "TOKEN_PREFIX",
    "checked_token_hash",
    "claim_statement",
    "hash_token",
    "insert_pause",
    "pause_values",
    "raise_unclaimable",
    "select_pause",
    "update_claimed",
]

TOKEN_PREFIX = "pf_"
"""Every resume token starts with this, so it never looks like a command-line option."""

_MAX_TOKEN_LEN = 512


def hash_token(token: str) -> str:
    """Return the stored form of a resume token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def checked_token_hash(token: object) -> str:
    """Check a token given by a caller and return its hash.

    Raises:
        ConfigError: ``token`` is not a str.
        PauseNotFoundError: ``token`` is empty or too long to be one of ours.
    """
    if not isinstance(token, str):
        raise ConfigError(f"a resume token must be a str, got {type(token).__name__}")
    if not token or len(token) > _MAX_TOKEN_LEN:
        raise PauseNotFoundError()
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


async def select_pause(conn: AsyncConnection, *conditions: ColumnElement[bool]) -> Any:
    """Return the pause row matching ``conditions``, or ``None``."""
    return (await conn.execute(select(pauses).where(*conditions))).one_or_none()


async def insert_pause(
    conn: AsyncConnection, run_id: str, tenant_id: str, values: dict[str, Any], now: float
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
    return token, await select_pause(conn, pauses.c.pause_id == pause_id)


def claim_statement(
    mine: Sequence[ColumnElement[bool]],
    *,
    claim_id: str,
    decision_text: str,
    now: float,
    lease: float,
) -> Any:
    """The one conditional UPDATE that claims a pause; its row count decides the winner.

    Claimable: pending and not expired, or claimed with a lease that has ended. The
    decision is recorded only by the first claim; a re-claim keeps it.
    """
    c = pauses.c
    claimable = or_(
        and_(
            c.status == PauseStatus.PENDING.value,
            or_(c.expires_at.is_(None), c.expires_at > now),
        ),
        and_(c.status == PauseStatus.CLAIMED.value, c.lease_until <= now),
    )
    return (
        update(pauses)
        .where(*mine, claimable)
        .values(
            status=PauseStatus.CLAIMED.value,
            claim_id=claim_id,
            claimed_at=now,
            lease_until=now + lease,
            claim_count=c.claim_count + 1,
            decision=case((c.status == PauseStatus.PENDING.value, decision_text), else_=c.decision),
        )
    )


def raise_unclaimable(row: Any, now: float) -> None:
    """Raise why a pause row that a claim did not win cannot be claimed (if it cannot).

    Raises:
        PauseAlreadyResumedError: it is resolved.
        PauseAlreadyClaimedError: another claim holds an unexpired lease.
        PauseExpiredError: it is pending past its ``expires_at``.
    """
    if row.status == PauseStatus.RESOLVED.value:
        record = pause_from_row(row, now=now)
        raise PauseAlreadyResumedError(
            pause_id=row.pause_id,
            run_id=row.run_id,
            outcome=record.outcome,
            resolved_at=record.resolved_at,
        )
    if row.status == PauseStatus.CLAIMED.value and (
        row.lease_until is None or row.lease_until > now
    ):
        raise PauseAlreadyClaimedError(
            pause_id=row.pause_id, run_id=row.run_id, lease_until=to_datetime(row.lease_until)
        )
    if (
        row.status == PauseStatus.PENDING.value
        and row.expires_at is not None
        and row.expires_at <= now
    ):
        raise PauseExpiredError(
            pause_id=row.pause_id, run_id=row.run_id, expired_at=to_datetime(row.expires_at)
        )


async def update_claimed(conn: AsyncConnection, claim: PauseClaim, **values: Any) -> None:
    """Update the pause only while ``claim`` still holds it.

    Raises:
        PauseLeaseLostError: the claim no longer holds the pause.
    """
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
        raise PauseLeaseLostError(pause_id=claim.pause.pause_id, run_id=claim.pause.run_id)
