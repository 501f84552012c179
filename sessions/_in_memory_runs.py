"""The runs part of :class:`~penguiflow.sessions.in_memory.InMemorySessionStore`.

Runs with optimistic versions and owner leases, kept in a dict; the same records and
errors as the SQL store's runs part (``store.runs``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from penguiflow.errors import ConfigError

from ._codec import encode, to_datetime, to_datetime_required
from ._rows import check_id, check_positive, run_from_row
from .errors import (
    DuplicateRunError,
    RunInUseError,
    RunLeaseLostError,
    RunNotFoundError,
    StaleVersionError,
)
from .models import DEFAULT_TENANT, RunRecord, RunStatus

__all__ = ["InMemoryRuns", "Run"]

_TERMINAL = frozenset({RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value})


@dataclass(slots=True)
class Run:
    """A stored run, with the attributes of a row of the SQL runs table."""

    run_id: str
    tenant_id: str
    session_id: str | None
    user_id: str | None
    status: str
    state: str
    version: int
    created_at: float
    updated_at: float
    owner_id: str | None = None
    lease_until: float | None = None
    error: str | None = None


class InMemoryRuns:
    """Runs kept in process memory (a :class:`~penguiflow.sessions.RunStore`).

    Args:
        clock: returns the current UNIX time in seconds.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self._runs: dict[tuple[str, str], Run] = {}

    def _find(self, run_id: str, tenant_id: str | None) -> Run | None:
        if tenant_id is not None:
            return self._runs.get((tenant_id, run_id))
        found = [run for (_, rid), run in self._runs.items() if rid == run_id]
        if len(found) > 1:
            raise ConfigError(
                f"run id {run_id!r} is used by several tenants; pass tenant_id= to say whose "
                "run you mean"
            )
        return found[0] if found else None

    def _run(self, run_id: str, tenant_id: str | None) -> Run:
        run = self._find(run_id, tenant_id)
        if run is None:
            raise RunNotFoundError(run_id=run_id)
        return run

    def _lease_end(self, owner_id: str, lease_s: float) -> float:
        check_id("owner_id", owner_id)
        return self._clock() + check_positive("lease_s", lease_s)

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
        """Create a run at version 1 (see ``SessionStore.create_run``).

        Raises:
            DuplicateRunError: the tenant already has a run ``run_id``.
            ConfigError: a bad id or lease, or an owner for a run that is not running.
        """
        check_id("tenant_id", tenant_id)
        run_id = check_id("run_id", run_id, max_len=64) if run_id is not None else uuid.uuid4().hex
        status = RunStatus(status)
        if owner_id is not None and status is not RunStatus.RUNNING:
            raise ConfigError(f"only a running run has an owner, got status {status.value!r}")
        lease_until = self._lease_end(owner_id, lease_s) if owner_id is not None else None
        text = encode(dict(state or {}), what="run state")
        if (tenant_id, run_id) in self._runs:
            raise DuplicateRunError(run_id=run_id)
        now = self._clock()
        run = Run(run_id, tenant_id, session_id, user_id, status.value, text, 1, now, now)
        run.owner_id, run.lease_until = owner_id, lease_until
        self._runs[(tenant_id, run_id)] = run
        return run_from_row(run)

    async def get_run(self, run_id: str, *, tenant_id: str | None = None) -> RunRecord:
        """Return a run (see ``SessionStore.get_run``).

        Raises:
            RunNotFoundError: no such run for this tenant.
        """
        return run_from_row(self._run(run_id, tenant_id))

    def _update(
        self,
        run: Run,
        state: str | None,
        status: RunStatus,
        expected_version: int,
        *,
        owner: tuple[str, float] | None = None,
        error: str | None = None,
    ) -> None:
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise ConfigError(
                f"expected_version must be the int version you loaded, got {expected_version!r}"
            )
        if run.version != expected_version:
            raise StaleVersionError(
                entity="run", key=run.run_id, expected=expected_version, actual=run.version
            )
        run.version, run.status, run.updated_at, run.error = (
            expected_version + 1,
            status.value,
            self._clock(),
            error,
        )
        if state is not None:
            run.state = state
        if status is not RunStatus.RUNNING:
            run.owner_id = run.lease_until = None
        elif owner is not None:
            run.owner_id, run.lease_until = owner

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
        """Save a run if it is still at ``expected_version`` (see ``SessionStore.save_run``).

        Raises:
            StaleVersionError: someone saved the run since ``expected_version``.
            RunNotFoundError: no such run for this tenant.
        """
        text = None if state is None else encode(dict(state), what="run state")
        run = self._run(run_id, tenant_id)
        self._update(run, text, RunStatus(status), expected_version, error=error)
        return run_from_row(run)

    def _claimable(self, run: Run, now: float, *, stale_only: bool) -> bool:
        lapsed = run.lease_until is not None and run.lease_until <= now
        if run.status == RunStatus.RUNNING.value and lapsed:
            return True
        if stale_only:
            return False
        return run.status in _TERMINAL or (
            run.status == RunStatus.RUNNING.value and run.lease_until is None
        )

    def _take(self, run: Run, owner_id: str, lease_until: float, now: float) -> None:
        run.status, run.owner_id, run.lease_until = RunStatus.RUNNING.value, owner_id, lease_until
        run.version, run.updated_at, run.error = run.version + 1, now, None

    async def claim_run(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> RunRecord:
        """Take over an ended run, or a running one nobody holds (see ``claim_run``).

        Raises:
            RunNotFoundError: no such run for this tenant.
            RunInUseError: the run is paused, or another owner's lease is live.
        """
        lease_until = self._lease_end(owner_id, lease_s)
        run = self._run(run_id, tenant_id)
        now = self._clock()
        if not self._claimable(run, now, stale_only=False):
            raise RunInUseError(
                run_id=run_id, status=run.status, lease_until=to_datetime(run.lease_until)
            )
        self._take(run, owner_id, lease_until, now)
        return run_from_row(run)

    async def renew_run_lease(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> datetime:
        """Extend the owner's lease on a running run; return its new end.

        Raises:
            RunLeaseLostError: ``owner_id`` no longer holds the running run.
        """
        lease_until = self._lease_end(owner_id, lease_s)
        run = self._runs.get((tenant_id, run_id))
        if run is None or run.owner_id != owner_id or run.status != RunStatus.RUNNING.value:
            raise RunLeaseLostError(run_id=run_id, owner_id=owner_id)
        run.lease_until = lease_until
        return to_datetime_required(lease_until)

    async def recover_stale_runs(
        self,
        *,
        owner_id: str,
        lease_s: float = 30.0,
        tenant_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Take over running runs whose owner's lease lapsed, each exactly once.

        Returns:
            The runs now owned by ``owner_id`` (version bumped), oldest lease first.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be an int >= 1, got {limit!r}")
        lease_until = self._lease_end(owner_id, lease_s)
        now = self._clock()
        stale = sorted(
            (
                run
                for run in self._runs.values()
                if (tenant_id is None or run.tenant_id == tenant_id)
                and self._claimable(run, now, stale_only=True)
            ),
            key=lambda run: (run.lease_until or 0.0, run.tenant_id, run.run_id),
        )[:limit]
        for run in stale:
            self._take(run, owner_id, lease_until, now)
        return [run_from_row(run) for run in stale]
