"""The runs part of the store: create, read, save, list, and the runs' owner leases.

Saves are optimistic (a version per run). A running run's owner holds a lease so that,
if its process dies, another process can recover the run. A run is keyed by
``(tenant_id, run_id)``. :func:`touch_session` (and the statements in :mod:`._run_sql`)
work on a connection inside a caller's transaction; the pauses part uses them to save a
run and a pause atomically.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import encode, to_datetime_required
from ._database import Database
from ._rows import check_id, check_positive, run_from_row, session_from_row
from ._run_sql import claim_statement, raise_unclaimable, select_run, update_run
from ._tables import runs, sessions
from .errors import DuplicateRunError, RunLeaseLostError, RunNotFoundError
from .models import DEFAULT_TENANT, RunRecord, RunStatus, SessionRecord

__all__ = ["Runs", "touch_session"]


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
        owner_id: str | None = None,
        lease_s: float = 30.0,
    ) -> RunRecord:
        """Create a run (version 1); its session is created or touched when given.

        Args:
            tenant_id: the owning tenant.
            session_id: the conversation session the run belongs to.
            user_id: the user the run acts for.
            state: the initial serialised state (plain JSON object).
            status: the initial status.
            run_id: the id to use (unique within the tenant); a random one is generated
                when left out.
            owner_id: the process that works on the (running) run; it holds a lease of
                ``lease_s`` seconds, to renew with :meth:`renew_run_lease`. Without an
                owner the run is never recovered by :meth:`recover_stale_runs`.
            lease_s: the owner's lease.

        Returns:
            The stored run.

        Raises:
            DuplicateRunError: the tenant already has a run ``run_id``.
            ConfigError: a bad id or lease, or an owner for a run that is not running.
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
        lease_until = self._lease_end(owner_id, lease_s) if owner_id is not None else None
        if owner_id is not None and status is not RunStatus.RUNNING:
            raise ConfigError(f"only a running run has an owner, got status {status.value!r}")
        state_text = encode(dict(state or {}), what="run state")
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
                    owner_id=owner_id,
                    lease_until=lease_until,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "run_id"])
            )
            if (await conn.execute(stmt)).rowcount != 1:
                raise DuplicateRunError(run_id=run_id)
            row = await select_run(conn, run_id, tenant_id)
        return run_from_row(row)

    def _lease_end(self, owner_id: str, lease_s: float) -> float:
        check_id("owner_id", owner_id)
        return self._db.now() + check_positive("lease_s", lease_s)

    async def get_run(self, run_id: str, *, tenant_id: str | None = None) -> RunRecord:
        """Return a run.

        Args:
            run_id: the run's id.
            tenant_id: the run's tenant. ``None`` (operators) finds the run whatever its
                tenant, if only one tenant has that run id.

        Raises:
            RunNotFoundError: no such run (for this tenant).
            ConfigError: ``tenant_id`` is ``None`` and several tenants have the run id.
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
        state: Mapping[str, Any] | None,
        status: RunStatus,
        expected_version: int,
        tenant_id: str | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Save a run's state if nobody saved it since ``expected_version``.

        Saving a run in any status but ``running`` ends its owner's lease.

        Args:
            run_id: the run's id.
            state: the new serialised state (plain JSON object); ``None`` keeps the stored
                one (to mark a run failed when its state cannot be saved).
            status: the new status.
            expected_version: the version the new state was derived from.
            tenant_id: the run's tenant (``None``: the one tenant that has the run id).
            error: why the run failed (kept with ``failed`` runs; cleared otherwise).

        Returns:
            The stored run, with ``version == expected_version + 1``.

        Raises:
            StaleVersionError: the run was saved by someone else meanwhile; reload it.
            RunNotFoundError: no such run (for this tenant).
            ConfigError: ``tenant_id`` is ``None`` and several tenants have the run id.
            UnserializableRecordError: ``state`` is not plain JSON.
        """
        state_text = None if state is None else encode(dict(state), what="run state")
        status = RunStatus(status)
        now = self._db.now()
        async with self._db.transaction("save_run", write=True) as conn:
            await update_run(
                conn, run_id, tenant_id, state_text, status, expected_version, now, error=error
            )
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

    # -- owner leases ------------------------------------------------------------------

    async def claim_run(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> RunRecord:
        """Take a run over to continue it: it becomes ``running``, owned by ``owner_id``.

        A run can be taken when it ended (finished, failed, cancelled), or is running
        with no owner or with a lapsed lease. The version goes up by 1, so a previous
        owner can no longer save the run.

        Args:
            run_id: the run's id.
            tenant_id: the run's tenant.
            owner_id: the process taking the run.
            lease_s: its lease, to renew with :meth:`renew_run_lease`.

        Raises:
            RunNotFoundError: no such run for this tenant.
            RunInUseError: the run is paused, or another owner's lease is live.
        """
        lease_until = self._lease_end(owner_id, lease_s)
        now = self._db.now()
        stmt = claim_statement(run_id, tenant_id, (owner_id, lease_until), now, stale_only=False)
        async with self._db.transaction("claim_run", write=True) as conn:
            won = (await conn.execute(stmt)).rowcount == 1
            row = await select_run(conn, run_id, tenant_id)
        if not won:
            raise_unclaimable(row, run_id)
        return run_from_row(row)

    async def renew_run_lease(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> datetime:
        """Extend the owner's lease on a running run to ``lease_s`` from now (no new version).

        The owner calls it while it works on the run (every third of the lease, say).

        Returns:
            When the lease now ends.

        Raises:
            RunLeaseLostError: ``owner_id`` no longer holds the running run (it lapsed and
                the run was recovered elsewhere, or the run ended).
        """
        lease_until = self._lease_end(owner_id, lease_s)
        stmt = (
            update(runs)
            .where(
                runs.c.tenant_id == tenant_id,
                runs.c.run_id == run_id,
                runs.c.owner_id == owner_id,
                runs.c.status == RunStatus.RUNNING.value,
            )
            .values(lease_until=lease_until)
        )
        async with self._db.transaction("renew_run_lease", write=True) as conn:
            if (await conn.execute(stmt)).rowcount != 1:
                raise RunLeaseLostError(run_id=run_id, owner_id=owner_id)
        return to_datetime_required(lease_until)

    async def recover_stale_runs(
        self,
        *,
        owner_id: str,
        lease_s: float = 30.0,
        tenant_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Claim running runs whose owner's lease lapsed (the owner died), exactly once.

        Each such run is taken by one conditional UPDATE, so of any number of concurrent
        recoverers, in any number of processes, exactly one gets it. The caller now owns
        the returned runs: continue each from its stored state (a planner does this in
        ``ReactPlanner.recover_stale_runs``) and renew its lease meanwhile.

        Args:
            owner_id: the recovering process.
            lease_s: its lease on each claimed run.
            tenant_id: only this tenant's runs (``None``: every tenant's).
            limit: claim at most this many runs.

        Returns:
            The claimed runs (owned by ``owner_id``, version bumped), oldest lease first.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be an int >= 1, got {limit!r}")
        lease_until = self._lease_end(owner_id, lease_s)
        now = self._db.now()
        stale = (
            select(runs.c.tenant_id, runs.c.run_id)
            .where(
                runs.c.status == RunStatus.RUNNING.value,
                runs.c.lease_until.is_not(None),
                runs.c.lease_until <= now,
            )
            .order_by(runs.c.lease_until, runs.c.tenant_id, runs.c.run_id)
            .limit(limit)
        )
        if tenant_id is not None:
            stale = stale.where(runs.c.tenant_id == tenant_id)
        claimed = []
        async with self._db.transaction("recover_stale_runs", write=True) as conn:
            for tenant, run_id in (await conn.execute(stale)).all():
                stmt = claim_statement(
                    run_id, tenant, (owner_id, lease_until), now, stale_only=True
                )
                if (await conn.execute(stmt)).rowcount == 1:
                    claimed.append(await select_run(conn, run_id, tenant))
        return [run_from_row(row) for row in claimed]


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
