"""Statements on one run, run inside a caller's transaction (the runs and pauses parts).

A run is keyed by ``(tenant_id, run_id)``. Operators may leave the tenant out; the run
id must then belong to exactly one tenant.

A running run may have an owner: the process working on it, which holds a lease
(``lease_until``) and renews it while it works. Saving a run in any other status, or
pausing it, ends the ownership. Taking a run over (``claim_statement``) bumps its
version, so a previous owner that comes back can no longer save it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from penguiflow.errors import ConfigError

from ._codec import to_datetime
from ._tables import runs
from .errors import RunInUseError, RunNotFoundError, StaleVersionError
from .models import RunStatus

__all__ = [
    "Owner",
    "claim_statement",
    "raise_unclaimable",
    "resolve_tenant",
    "select_run",
    "update_run",
]

Owner = tuple[str, float]
"""``(owner_id, lease_until)`` of a process taking or keeping a running run."""

_TERMINAL = [RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value]


async def resolve_tenant(conn: AsyncConnection, run_id: str, tenant_id: str | None) -> str:
    """Return ``tenant_id``, or (when ``None``) the one tenant that has the run id.

    Raises:
        RunNotFoundError: no tenant has the run id.
        ConfigError: several tenants have it; the caller must say which.
    """
    if tenant_id is not None:
        return tenant_id
    stmt = select(runs.c.tenant_id).where(runs.c.run_id == run_id).limit(2)
    tenants = list((await conn.execute(stmt)).scalars())
    if not tenants:
        raise RunNotFoundError(run_id=run_id)
    if len(tenants) > 1:
        raise ConfigError(
            f"run id {run_id!r} is used by several tenants; pass tenant_id= to say whose "
            "run you mean"
        )
    return str(tenants[0])


def _key(run_id: str, tenant_id: str) -> tuple[Any, Any]:
    return runs.c.tenant_id == tenant_id, runs.c.run_id == run_id


async def select_run(conn: AsyncConnection, run_id: str, tenant_id: str | None) -> Any:
    """Return the run's row (of this tenant, when given), or ``None``.

    Raises:
        ConfigError: no tenant was given and several tenants have the run id.
    """
    try:
        tenant = await resolve_tenant(conn, run_id, tenant_id)
    except RunNotFoundError:
        return None
    return (await conn.execute(select(runs).where(*_key(run_id, tenant)))).one_or_none()


async def update_run(
    conn: AsyncConnection,
    run_id: str,
    tenant_id: str | None,
    state_text: str | None,
    status: RunStatus,
    expected_version: int,
    now: float,
    *,
    owner: Owner | None = None,
    error: str | None = None,
) -> int:
    """Conditionally update a run; return its new version or raise why it failed.

    ``state_text=None`` keeps the stored state. A ``running`` run keeps its owner unless
    ``owner`` names a new one; any other status ends the ownership.

    Raises:
        ConfigError: ``expected_version`` is not an int, or the tenant is ambiguous.
        RunNotFoundError: no such run (for this tenant).
        StaleVersionError: the run is not at ``expected_version``.
    """
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise ConfigError(
            f"expected_version must be the int version you loaded, got {expected_version!r}"
        )
    tenant = await resolve_tenant(conn, run_id, tenant_id)
    values: dict[str, Any] = {
        "status": status.value,
        "version": expected_version + 1,
        "updated_at": now,
        "error": error,
    }
    if state_text is not None:
        values["state"] = state_text
    if status is not RunStatus.RUNNING:
        values.update(owner_id=None, lease_until=None)
    elif owner is not None:
        values.update(owner_id=owner[0], lease_until=owner[1])
    stmt = (
        update(runs)
        .where(*_key(run_id, tenant), runs.c.version == expected_version)
        .values(**values)
    )
    if (await conn.execute(stmt)).rowcount == 1:
        return expected_version + 1
    found = select(runs.c.version).where(*_key(run_id, tenant))
    actual = (await conn.execute(found)).scalar_one_or_none()
    if actual is None:
        raise RunNotFoundError(run_id=run_id)
    raise StaleVersionError(entity="run", key=run_id, expected=expected_version, actual=actual)


def claim_statement(
    run_id: str, tenant_id: str, owner: Owner, now: float, *, stale_only: bool
) -> Any:
    """The conditional UPDATE that makes ``owner`` the run's owner; its row count decides.

    With ``stale_only``: only a running run whose lease has lapsed (recovery). Otherwise
    also a running run nobody holds, or an ended run (continued again).
    """
    c = runs.c
    lapsed = and_(c.lease_until.is_not(None), c.lease_until <= now)
    claimable = and_(c.status == RunStatus.RUNNING.value, lapsed)
    if not stale_only:
        claimable = or_(
            c.status.in_(_TERMINAL),
            and_(c.status == RunStatus.RUNNING.value, or_(c.lease_until.is_(None), lapsed)),
        )
    return (
        update(runs)
        .where(*_key(run_id, tenant_id), claimable)
        .values(
            status=RunStatus.RUNNING.value,
            owner_id=owner[0],
            lease_until=owner[1],
            version=c.version + 1,
            updated_at=now,
            error=None,
        )
    )


def raise_unclaimable(row: Any, run_id: str) -> None:
    """Raise why a run that a claim did not win cannot be taken over.

    Raises:
        RunNotFoundError: there is no such run.
        RunInUseError: it is paused, or running under another owner's live lease.
    """
    if row is None:
        raise RunNotFoundError(run_id=run_id)
    raise RunInUseError(run_id=run_id, status=row.status, lease_until=to_datetime(row.lease_until))
