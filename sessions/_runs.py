"""The runs part of the store: create, read, save with optimistic concurrency, list.

The module-level helpers work on a connection inside a caller's transaction; the pauses
part uses them to save a run and a pause atomically.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import encode
from ._database import Database
from ._rows import check_id, run_from_row, session_from_row
from ._tables import runs, sessions
from .errors import DuplicateRunError, RunNotFoundError, StaleVersionError
from .models import DEFAULT_TENANT, RunRecord, RunStatus, SessionRecord

__all__ = ["Runs", "select_run", "touch_session", "update_run"]


def _statuses(status: RunStatus | Iterable[RunStatus] | None) -> list[str] | None:
    if status is None:
        return None
    if isinstance(status, str):
        return [RunStatus(status).value]
    return [RunStatus(s).value for s in status]


class Runs:
    """Runs and sessions of a store (``store.runs``); a :class:`~penguiflow.sessions.RunStore`.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_run(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        session_id: str | None = None,
        user_id: str | None = None,
        state: Mapping[str, Any] | None = None,
        status: RunStatus = RunStatus.RUNNING,
        run_id: str | None = None,
    ) -> RunRecord:
        """Create a run (version 1); its session is created or touched when given.

        Args:
            tenant_id: the owning tenant.
            session_id: the conversation session the run belongs to.
            user_id: the user the run acts for.
            state: the initial serialised state (plain JSON object).
            status: the initial status.
            run_id: the id to use; a random one is generated when left out.

        Returns:
            The stored run.

        Raises:
            DuplicateRunError: ``run_id`` is already taken.
            UnserializableRecordError: ``state`` is not plain JSON.
            StoreBackendError: the database failed.
        """
        check_id("tenant_id", tenant_id)
        if session_id is not None:
            check_id("session_id", session_id)
        if user_id is not None:
            check_id("user_id", user_id)
        run_id = check_id("run_id", run_id, max_len=64) if run_id is not None else uuid.uuid4().hex
        status = RunStatus(status)
        state_dict = dict(state or {})
        state_text = encode(state_dict, what="run state")
        now = self._db.now()
        async with self._db.transaction("create_run", write=True) as conn:
            if session_id is not None:
                await touch_session(self._db, conn, tenant_id, session_id, user_id, now)
            stmt = (
                self._db.insert(runs)
                .values(
                    run_id=run_id,
                    tenant_id=tenant_id,
                    session_id=session_id,
                    user_id=user_id,
                    status=status.value,
                    state=state_text,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["run_id"])
            )
            if (await conn.execute(stmt)).rowcount != 1:
                raise DuplicateRunError(run_id=run_id)
            row = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).one()
        return run_from_row(row)

    async def get_run(self, run_id: str, *, tenant_id: str | None = None) -> RunRecord:
        """Return a run.

        Args:
            run_id: the run's id.
            tenant_id: only find the run if it belongs to this tenant; ``None`` (operators)
                finds it whatever its tenant.

        Raises:
            RunNotFoundError: no such run (for this tenant).
            CorruptRecordError: the stored state cannot be read.
        """
        async with self._db.transaction("get_run", write=False) as conn:
            row = await select_run(conn, run_id, tenant_id)
        if row is None:
            raise RunNotFoundError(run_id=run_id)
        return run_from_row(row)

    async def save_run(
        self,
        run_id: str,
        *,
        state: Mapping[str, Any],
        status: RunStatus,
        expected_version: int,
        tenant_id: str | None = None,
    ) -> RunRecord:
        """Save a run's state if nobody saved it since ``expected_version``.

        Args:
            run_id: the run's id.
            state: the new serialised state (plain JSON object).
            status: the new status.
            expected_version: the version the new state was derived from.
            tenant_id: when given, the run must belong to this tenant.

        Returns:
            The stored run, with ``version == expected_version + 1``.

        Raises:
            StaleVersionError: the run was saved by someone else meanwhile; reload it.
            RunNotFoundError: no such run (for this tenant).
            UnserializableRecordError: ``state`` is not plain JSON.
        """
        state_text = encode(dict(state), what="run state")
        status = RunStatus(status)
        now = self._db.now()
        async with self._db.transaction("save_run", write=True) as conn:
            await update_run(conn, run_id, tenant_id, state_text, status, expected_version, now)
            row = await select_run(conn, run_id, tenant_id)
        return run_from_row(row)

    async def list_runs(
        self,
        *,
        tenant_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        status: RunStatus | Iterable[RunStatus] | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """List runs, most recently saved first.

        Args:
            tenant_id: only this tenant's runs (``None``: all tenants, for operators).
            session_id: only runs of this session.
            user_id: only runs of this user.
            status: only runs with this status (or any of these statuses).
            limit: at most this many runs.
        """
        stmt = select(runs).order_by(runs.c.updated_at.desc(), runs.c.run_id).limit(limit)
        if tenant_id is not None:
            stmt = stmt.where(runs.c.tenant_id == tenant_id)
        if session_id is not None:
            stmt = stmt.where(runs.c.session_id == session_id)
        if user_id is not None:
            stmt = stmt.where(runs.c.user_id == user_id)
        statuses = _statuses(status)
        if statuses is not None:
            stmt = stmt.where(runs.c.status.in_(statuses))
        async with self._db.transaction("list_runs", write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [run_from_row(row) for row in rows]

    async def list_sessions(
        self, *, tenant_id: str = DEFAULT_TENANT, user_id: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        """List a tenant's sessions, most recently used first.

        Args:
            tenant_id: the tenant.
            user_id: only sessions opened for this user.
            limit: at most this many sessions.
        """
        stmt = (
            select(sessions)
            .where(sessions.c.tenant_id == tenant_id)
            .order_by(sessions.c.updated_at.desc(), sessions.c.session_id)
            .limit(limit)
        )
        if user_id is not None:
            stmt = stmt.where(sessions.c.user_id == user_id)
        async with self._db.transaction("list_sessions", write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [session_from_row(row) for row in rows]


# -- helpers shared with the pauses part (they run inside the caller's transaction) ------


async def touch_session(
    db: Database,
    conn: AsyncConnection,
    tenant_id: str,
    session_id: str,
    user_id: str | None,
    now: float,
) -> None:
    """Create the session row, or bump its ``updated_at``."""
    stmt = (
        db.insert(sessions)
        .values(
            tenant_id=tenant_id,
            session_id=session_id,
            user_id=user_id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(index_elements=["tenant_id", "session_id"], set_={"updated_at": now})
    )
    await conn.execute(stmt)


async def select_run(conn: AsyncConnection, run_id: str, tenant_id: str | None) -> Any:
    """Return the run's row (of this tenant, when given), or ``None``."""
    stmt = select(runs).where(runs.c.run_id == run_id)
    if tenant_id is not None:
        stmt = stmt.where(runs.c.tenant_id == tenant_id)
    return (await conn.execute(stmt)).one_or_none()


async def update_run(
    conn: AsyncConnection,
    run_id: str,
    tenant_id: str | None,
    state_text: str,
    status: RunStatus,
    expected_version: int,
    now: float,
) -> int:
    """Conditionally update a run; return its new version or raise why it failed.

    Raises:
        ConfigError: ``expected_version`` is not an int.
        RunNotFoundError: no such run (for this tenant).
        StaleVersionError: the run is not at ``expected_version``.
    """
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise ConfigError(
            f"expected_version must be the int version you loaded, got {expected_version!r}"
        )
    stmt = (
        update(runs)
        .where(runs.c.run_id == run_id, runs.c.version == expected_version)
        .values(
            state=state_text,
            status=status.value,
            version=expected_version + 1,
            updated_at=now,
        )
    )
    if tenant_id is not None:
        stmt = stmt.where(runs.c.tenant_id == tenant_id)
    if (await conn.execute(stmt)).rowcount == 1:
        return expected_version + 1
    found = select(runs.c.version).where(runs.c.run_id == run_id)
    if tenant_id is not None:
        found = found.where(runs.c.tenant_id == tenant_id)
    actual = (await conn.execute(found)).scalar_one_or_none()
    if actual is None:
        raise RunNotFoundError(run_id=run_id)
    raise StaleVersionError(entity="run", key=run_id, expected=expected_version, actual=actual)
