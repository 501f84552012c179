"""The runtime ``StateStore`` protocol (events, remote bindings) and retention (prune)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, insert, or_, select

from penguiflow.errors import ConfigError
from penguiflow.state import RemoteBinding, StoredEvent

from ._codec import decode_dict, encode_lenient
from ._core import StoreCore
from ._tables import events, pauses, remote_bindings, runs, tool_journal
from .models import PauseStatus, PruneResult, RunStatus

__all__ = ["EventsMixin"]

_TERMINAL = [RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value]


class EventsMixin(StoreCore):
    """Event, binding and retention operations of ``SqlSessionStore``."""

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one flow or planner event (``StateStore`` protocol).

        Payload values that JSON cannot hold are stored as their ``repr`` so that
        recording an event never fails a flow.
        """
        now = self._now()
        stmt = insert(events).values(
            trace_id=event.trace_id,
            ts=float(event.ts),
            kind=event.kind,
            node_name=event.node_name,
            node_id=event.node_id,
            payload=encode_lenient(dict(event.payload)),
            created_at=now,
        )
        async with self._transaction("save_event", write=True) as conn:
            await conn.execute(stmt)

    async def load_history(self, trace_id: str) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in the order they were saved (``StateStore``).

        Raises:
            CorruptRecordError: an event's payload cannot be read.
        """
        stmt = select(events).where(events.c.trace_id == trace_id).order_by(events.c.id)
        async with self._transaction("load_history", write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            StoredEvent(
                trace_id=row.trace_id,
                ts=row.ts,
                kind=row.kind,
                node_name=row.node_name,
                node_id=row.node_id,
                payload=decode_dict(row.payload, table="penguiflow_events", record_id=str(row.id)),
            )
            for row in rows
        ]

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Persist a link between a local trace and a remote task (``StateStore``)."""
        stmt = insert(remote_bindings).values(
            trace_id=binding.trace_id,
            context_id=binding.context_id,
            task_id=binding.task_id,
            agent_url=binding.agent_url,
            created_at=self._now(),
        )
        async with self._transaction("save_remote_binding", write=True) as conn:
            await conn.execute(stmt)

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the remote bindings of ``trace_id`` in the order they were saved."""
        stmt = (
            select(remote_bindings)
            .where(remote_bindings.c.trace_id == trace_id)
            .order_by(remote_bindings.c.id)
        )
        async with self._transaction("load_remote_bindings", write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            RemoteBinding(
                trace_id=row.trace_id,
                context_id=row.context_id,
                task_id=row.task_id,
                agent_url=row.agent_url,
            )
            for row in rows
        ]

    async def prune(self, *, older_than: timedelta) -> PruneResult:
        """Delete what is older than ``older_than``, in one transaction.

        Removed: runs that are finished, failed or cancelled and were last saved before
        the cutoff (with their pauses and tool-journal entries); pending pauses that
        expired before the cutoff; resolved pauses resolved before the cutoff; events and
        remote bindings recorded before the cutoff. Running and paused runs, live pauses,
        sessions and conversation memory are kept.

        Args:
            older_than: the age beyond which records are removed (``timedelta(0)``: all
                that qualify).

        Returns:
            How many rows of each kind were removed.
        """
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ConfigError(f"older_than must be a timedelta >= 0, got {older_than!r}")
        cutoff = self._now() - older_than.total_seconds()
        old_runs = select(runs.c.run_id).where(
            runs.c.status.in_(_TERMINAL), runs.c.updated_at < cutoff
        )
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
        async with self._transaction("prune", write=True) as conn:
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
