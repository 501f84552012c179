"""The events part of the store: flow and planner events and remote bindings (``StateStore``)."""

from __future__ import annotations

from sqlalchemy import insert, select

from penguiflow.state import RemoteBinding, StoredEvent

from ._codec import decode_dict, encode_lenient
from ._database import Database
from ._tables import events, remote_bindings

__all__ = ["Events"]


class Events:
    """Events of a store (``store.events``); a :class:`penguiflow.StateStore`.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one flow or planner event (``StateStore`` protocol).

        Payload values that JSON cannot hold are stored as their ``repr`` so that
        recording an event never fails a flow.
        """
        now = self._db.now()
        stmt = insert(events).values(
            trace_id=event.trace_id,
            ts=float(event.ts),
            kind=event.kind,
            node_name=event.node_name,
            node_id=event.node_id,
            payload=encode_lenient(dict(event.payload)),
            created_at=now,
        )
        async with self._db.transaction("save_event", write=True) as conn:
            await conn.execute(stmt)

    async def load_history(self, trace_id: str) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in the order they were saved (``StateStore``).

        Raises:
            CorruptRecordError: an event's payload cannot be read.
        """
        stmt = select(events).where(events.c.trace_id == trace_id).order_by(events.c.id)
        async with self._db.transaction("load_history", write=False) as conn:
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
            created_at=self._db.now(),
        )
        async with self._db.transaction("save_remote_binding", write=True) as conn:
            await conn.execute(stmt)

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the remote bindings of ``trace_id`` in the order they were saved."""
        stmt = (
            select(remote_bindings)
            .where(remote_bindings.c.trace_id == trace_id)
            .order_by(remote_bindings.c.id)
        )
        async with self._db.transaction("load_remote_bindings", write=False) as conn:
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
