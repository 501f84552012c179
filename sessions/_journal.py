"""The journal part of the store: tool calls recorded so a side effect never runs twice.

Entries are keyed by ``(tenant_id, run_id, call_hash)``: runs of two tenants may share
a run id, never their journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import encode
from ._database import Database
from ._rows import check_id, journal_from_row
from ._tables import tool_journal
from .models import DEFAULT_TENANT, JournalBegin, JournalEntry, JournalStatus

__all__ = ["Journal"]


def _key(tenant_id: str, run_id: str, call_hash: str) -> tuple[Any, ...]:
    c = tool_journal.c
    return c.tenant_id == tenant_id, c.run_id == run_id, c.call_hash == call_hash


class Journal:
    """The tool-call journal of a store (``store.journal``); a ``JournalStore``.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def journal_begin(
        self,
        run_id: str,
        call_hash: str,
        *,
        tool: str,
        args: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalBegin:
        """Record that a tool call is about to run, or report that it already ran.

        Call it before executing a side-effecting tool call. If ``result.completed``, do
        not execute the tool again: use ``result.entry.result``. Otherwise execute it
        (passing ``call_hash`` as the tool's idempotency key) and then call
        :meth:`journal_complete` or :meth:`journal_fail`.

        Args:
            run_id: the run the call belongs to.
            call_hash: the call's idempotency key (unique per run).
            tool: the tool's name.
            args: the call's arguments (plain JSON object).
            tenant_id: the run's tenant.

        Returns:
            What the journal knew about this call, after recording this attempt.
        """
        check_id("tenant_id", tenant_id)
        check_id("run_id", run_id, max_len=64)
        check_id("call_hash", call_hash, max_len=128)
        check_id("tool", tool)
        args_text = encode(dict(args), what="tool call arguments")
        now = self._db.now()
        key = _key(tenant_id, run_id, call_hash)
        async with self._db.transaction("journal_begin", write=True) as conn:
            stmt = (
                self._db.insert(tool_journal)
                .values(
                    tenant_id=tenant_id,
                    run_id=run_id,
                    call_hash=call_hash,
                    tool=tool,
                    args=args_text,
                    status=JournalStatus.STARTED.value,
                    attempts=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "run_id", "call_hash"])
            )
            is_new = (await conn.execute(stmt)).rowcount == 1
            previous: JournalStatus | None = None
            if not is_new:
                row = (await conn.execute(select(tool_journal).where(*key))).one()
                previous = journal_from_row(row).status
                if previous is not JournalStatus.COMPLETED:
                    await conn.execute(
                        update(tool_journal)
                        .where(*key)
                        .values(
                            status=JournalStatus.STARTED.value,
                            attempts=tool_journal.c.attempts + 1,
                            updated_at=now,
                        )
                    )
            row = (await conn.execute(select(tool_journal).where(*key))).one()
        return JournalBegin(entry=journal_from_row(row), is_new=is_new, previous_status=previous)

    async def journal_complete(
        self, run_id: str, call_hash: str, *, result: Any, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry:
        """Record a tool call's result (plain JSON) so it is never executed again.

        Raises:
            ConfigError: the call was never begun (call :meth:`journal_begin` first).
        """
        text = encode(result, what="tool call result")
        key = (tenant_id, run_id, call_hash)
        return await self._journal_finish(
            "journal_complete", key, JournalStatus.COMPLETED, result=text
        )

    async def journal_fail(
        self,
        run_id: str,
        call_hash: str,
        *,
        error: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalEntry:
        """Record that a tool call failed (``error``: plain JSON object, no secrets).

        A failed call is not considered done: a later :meth:`journal_begin` starts it again.

        Raises:
            ConfigError: the call was never begun, or it already completed.
        """
        text = encode(dict(error), what="tool call error")
        key = (tenant_id, run_id, call_hash)
        return await self._journal_finish("journal_fail", key, JournalStatus.FAILED, error=text)

    async def journal_get(
        self, run_id: str, call_hash: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry | None:
        """Return a journal entry, or ``None`` if the call was never begun."""
        stmt = select(tool_journal).where(*_key(tenant_id, run_id, call_hash))
        async with self._db.transaction("journal_get", write=False) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return None if row is None else journal_from_row(row)

    async def _journal_finish(
        self, operation: str, ids: tuple[str, str, str], status: JournalStatus, **values: Any
    ) -> JournalEntry:
        now = self._db.now()
        key = _key(*ids)
        async with self._db.transaction(operation, write=True) as conn:
            stmt = (
                update(tool_journal)
                .where(*key, tool_journal.c.status != JournalStatus.COMPLETED.value)
                .values(status=status.value, updated_at=now, **values)
            )
            if (await conn.execute(stmt)).rowcount != 1:
                await self._journal_unfinishable(conn, ids)
            row = (await conn.execute(select(tool_journal).where(*key))).one()
        return journal_from_row(row)

    @staticmethod
    async def _journal_unfinishable(conn: AsyncConnection, ids: tuple[str, str, str]) -> None:
        _, run_id, call_hash = ids
        stmt = select(tool_journal.c.status).where(*_key(*ids))
        status = (await conn.execute(stmt)).scalar_one_or_none()
        if status is None:
            raise ConfigError(
                f"tool call {call_hash!r} of run {run_id!r} was never begun; call "
                "journal_begin() before recording its outcome"
            )
        raise ConfigError(
            f"tool call {call_hash!r} of run {run_id!r} already completed; its result is "
            "final and cannot be replaced"
        )
