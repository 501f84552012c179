"""Retention: delete old runs, pauses, journal entries, events and bindings at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, or_, select

from penguiflow.errors import ConfigError

from ._database import Database
from ._tables import events, pauses, remote_bindings, runs, tool_journal
from .models import PauseStatus, PruneResult, RunStatus

__all__ = ["prune"]

_TERMINAL = [RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value]


async def prune(db: Database, *, older_than: timedelta) -> PruneResult:
    """Delete what is older than ``older_than``, in one transaction.

    Removed: runs that are finished, failed or cancelled and were last saved before
    the cutoff (with their pauses and tool-journal entries); pending pauses that
    expired before the cutoff; resolved pauses resolved before the cutoff; events and
    remote bindings recorded before the cutoff. Running and paused runs, live pauses,
    sessions and conversation memory are kept.

    Args:
        db: the store's database.
        older_than: the age beyond which records are removed (``timedelta(0)``: all
            that qualify).

    Returns:
        How many rows of each kind were removed.
    """
    if not isinstance(older_than, timedelta) or older_than < timedelta(0):
        raise ConfigError(f"older_than must be a timedelta >= 0, got {older_than!r}")
    cutoff = db.now() - older_than.total_seconds()
    old_runs = select(runs.c.run_id).where(runs.c.status.in_(_TERMINAL), runs.c.updated_at < cutoff)
    stale_pauses = or_(
        pauses.c.run_id.in_(old_runs),
        and_(
            pauses.c.status == PauseStatus.PENDING.value,
            pauses.c.expires_at.is_not(None),
            pauses.c.expires_at < cutoff,
        ),
        and_(
            pauses.c.status == PauseStatus.RESOLVED.value,
            pauses.c.resolved_at < cutoff,
        ),
    )
    async with db.transaction("prune", write=True) as conn:
        journal = await conn.execute(
            delete(tool_journal).where(tool_journal.c.run_id.in_(old_runs))
        )
        pause_rows = await conn.execute(delete(pauses).where(stale_pauses))
        run_rows = await conn.execute(
            delete(runs).where(runs.c.status.in_(_TERMINAL), runs.c.updated_at < cutoff)
        )
        event_rows = await conn.execute(delete(events).where(events.c.created_at < cutoff))
        binding_rows = await conn.execute(
            delete(remote_bindings).where(remote_bindings.c.created_at < cutoff)
        )
    return PruneResult(
        runs=run_rows.rowcount,
        pauses=pause_rows.rowcount,
        journal_entries=journal.rowcount,
        events=event_rows.rowcount,
        remote_bindings=binding_rows.rowcount,
    )
