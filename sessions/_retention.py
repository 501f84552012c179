"""Retention: delete old runs, pauses, journal entries, events and bindings at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, Table, and_, delete, exists, or_

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
    old_run = and_(runs.c.status.in_(_TERMINAL), runs.c.updated_at < cutoff)

    def of_old_run(table: Table) -> ColumnElement[bool]:
        """Rows of a run being pruned (runs are keyed by tenant and run id)."""
        mine = and_(runs.c.tenant_id == table.c.tenant_id, runs.c.run_id == table.c.run_id)
        return exists().where(mine, old_run)

    stale_pauses = or_(
        of_old_run(pauses),
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
        journal = await conn.execute(delete(tool_journal).where(of_old_run(tool_journal)))
        pause_rows = await conn.execute(delete(pauses).where(stale_pauses))
        run_rows = await conn.execute(delete(runs).where(old_run))
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
