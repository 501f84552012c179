"""The tool-call journal (exactly-once side effects) and versioned conversation memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import decode_dict, encode
from ._core import StoreCore
from ._rows import check_id, insert_for, journal_from_row
from ._tables import memory, tool_journal
from .errors import StaleVersionError
from .models import JournalBegin, JournalEntry, JournalStatus, MemoryKeyLike

__all__ = ["JournalMemoryMixin"]


def _memory_key(key: MemoryKeyLike) -> tuple[str, str, str]:
    tenant = getattr(key, "tenant_id", None)
    if not isinstance(tenant, str) or not tenant:
        raise ConfigError(
            f"a memory key needs a non-empty tenant_id, got {tenant!r}; pass "
            "MemoryKey(tenant_id=..., user_id=..., session_id=...)"
        )
    parts = [tenant]
    for name in ("user_id", "session_id"):
        value = getattr(key, name, None)
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > 255:
            raise ConfigError(f"memory key {name} must be a str or None, got {value!r}")
        parts.append(value)
    check_id("tenant_id", tenant)
    return parts[0], parts[1], parts[2]


class JournalMemoryMixin(StoreCore):
    """Journal and memory operations of :class:`~penguiflow.sessions.SqlSessionStore`."""

    # -- tool-call journal ---------------------------------------------------------------

    async def journal_begin(
        self, run_id: str, call_hash: str, *, tool: str, args: Mapping[str, Any]
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

        Returns:
            What the journal knew about this call, after recording this attempt.
        """
        check_id("run_id", run_id, max_len=64)
        check_id("call_hash", call_hash, max_len=128)
        check_id("tool", tool)
        args_text = encode(dict(args), what="tool call arguments")
        now = self._now()
        key = (tool_journal.c.run_id == run_id, tool_journal.c.call_hash == call_hash)
        async with self._transaction("journal_begin", write=True) as conn:
            stmt = (
                insert_for(self.dialect, tool_journal)
                .values(
                    run_id=run_id,
                    call_hash=call_hash,
                    tool=tool,
                    args=args_text,
                    status=JournalStatus.STARTED.value,
                    attempts=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["run_id", "call_hash"])
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

    async def journal_complete(self, run_id: str, call_hash: str, *, result: Any) -> JournalEntry:
        """Record a tool call's result (plain JSON) so it is never executed again.

        Raises:
            ConfigError: the call was never begun (call :meth:`journal_begin` first).
        """
        text = encode(result, what="tool call result")
        return await self._journal_finish(
            "journal_complete", run_id, call_hash, JournalStatus.COMPLETED, result=text
        )

    async def journal_fail(
        self, run_id: str, call_hash: str, *, error: Mapping[str, Any]
    ) -> JournalEntry:
        """Record that a tool call failed (``error``: plain JSON object, no secrets).

        A failed call is not considered done: a later :meth:`journal_begin` starts it again.

        Raises:
            ConfigError: the call was never begun, or it already completed.
        """
        text = encode(dict(error), what="tool call error")
        return await self._journal_finish(
            "journal_fail", run_id, call_hash, JournalStatus.FAILED, error=text
        )

    async def journal_get(self, run_id: str, call_hash: str) -> JournalEntry | None:
        """Return a journal entry, or ``None`` if the call was never begun."""
        stmt = select(tool_journal).where(
            tool_journal.c.run_id == run_id, tool_journal.c.call_hash == call_hash
        )
        async with self._transaction("journal_get", write=False) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return None if row is None else journal_from_row(row)

    async def _journal_finish(
        self, operation: str, run_id: str, call_hash: str, status: JournalStatus, **values: Any
    ) -> JournalEntry:
        now = self._now()
        key = (tool_journal.c.run_id == run_id, tool_journal.c.call_hash == call_hash)
        async with self._transaction(operation, write=True) as conn:
            stmt = (
                update(tool_journal)
                .where(*key, tool_journal.c.status != JournalStatus.COMPLETED.value)
                .values(status=status.value, updated_at=now, **values)
            )
            if (await conn.execute(stmt)).rowcount != 1:
                await self._journal_unfinishable(conn, run_id, call_hash)
            row = (await conn.execute(select(tool_journal).where(*key))).one()
        return journal_from_row(row)

    @staticmethod
    async def _journal_unfinishable(conn: AsyncConnection, run_id: str, call_hash: str) -> None:
        stmt = select(tool_journal.c.status).where(
            tool_journal.c.run_id == run_id, tool_journal.c.call_hash == call_hash
        )
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

    # -- conversation memory -------------------------------------------------------------

    async def load_memory(self, key: MemoryKeyLike) -> tuple[dict[str, Any] | None, int]:
        """Load the memory state stored under ``key``.

        Returns:
            ``(state, version)``; ``(None, 0)`` when nothing is stored yet. Pass the version
            to :meth:`save_memory`.

        Raises:
            CorruptRecordError: the stored state cannot be read.
        """
        tenant, user, session = _memory_key(key)
        stmt = select(memory.c.state, memory.c.version).where(
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._transaction("load_memory", write=False) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None:
            return None, 0
        state = decode_dict(
            row.state, table="penguiflow_memory", record_id=f"{tenant}/{user}/{session}"
        )
        return state, int(row.version)

    async def save_memory(
        self, key: MemoryKeyLike, state: Mapping[str, Any], *, expected_version: int
    ) -> int:
        """Save the memory state under ``key`` if nobody saved it since ``expected_version``.

        Args:
            key: tenant, user and session of the memory.
            state: the new state (plain JSON object).
            expected_version: the version returned by :meth:`load_memory` (0 when new).

        Returns:
            The new version.

        Raises:
            StaleVersionError: another writer saved first; load again, merge, retry.
        """
        tenant, user, session = _memory_key(key)
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise ConfigError(f"expected_version must be an int, got {expected_version!r}")
        text = encode(dict(state), what="memory state")
        now = self._now()
        match = (
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._transaction("save_memory", write=True) as conn:
            if expected_version == 0:
                stmt: Any = (
                    insert_for(self.dialect, memory)
                    .values(
                        tenant_id=tenant,
                        user_id=user,
                        session_id=session,
                        state=text,
                        version=1,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "session_id"])
                )
            else:
                stmt = (
                    update(memory)
                    .where(*match, memory.c.version == expected_version)
                    .values(state=text, version=expected_version + 1, updated_at=now)
                )
            if (await conn.execute(stmt)).rowcount != 1:
                actual = (
                    await conn.execute(select(memory.c.version).where(*match))
                ).scalar_one_or_none()
                raise StaleVersionError(
                    entity="memory",
                    key=f"{tenant}/{user}/{session}",
                    expected=expected_version,
                    actual=0 if actual is None else actual,
                )
        return expected_version + 1

    async def delete_memory(self, key: MemoryKeyLike) -> bool:
        """Delete the memory stored under ``key``; return whether there was any."""
        tenant, user, session = _memory_key(key)
        stmt = delete(memory).where(
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._transaction("delete_memory", write=True) as conn:
            return (await conn.execute(stmt)).rowcount > 0
