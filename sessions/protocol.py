"""What a planner needs from a session store: the :class:`SessionStore` protocol.

``ReactPlanner(state_store=...)`` records its runs, commits its pauses and journals the
tool calls of a resume through these methods, and nothing else.
:class:`~penguiflow.sessions.SqlSessionStore` implements them; implement them yourself to
keep runs and pauses somewhere else. The protocol is three smaller ones, one per kind of
record, so a store (or a test double) can be checked part by part:

* :class:`RunStore`: create, read and save runs with optimistic versions, and hold,
  renew and recover the owner lease of a running run;
* :class:`PauseStore`: commit a pause with its run, claim it exactly once, hold and renew
  a lease, give it back, resolve it (or resolve it and pause again) with its run;
* :class:`JournalStore`: record tool calls so a resume never runs one twice.

Short-term memory is a separate protocol, ``penguiflow.memory.MemoryStore``
(``load_memory``/``save_memory``); ``SqlSessionStore`` implements that one too, and a
planner can take a store that has only memory.

The guarantees are part of the contract, not details of the SQL store: a run is keyed
by ``(tenant_id, run_id)`` (two tenants may use one run id, and never see each other's
runs, pauses or journal); a token is returned only for a pause that is durably
committed; of any number of concurrent claims of a pause exactly one wins; a claim whose
lease ended can be taken over (keeping the first decision); of any number of concurrent
recoveries of a run whose owner's lease lapsed exactly one wins, and taking a run over
bumps its version; every write that names an ``expected_version`` is conditional; and a
completed journal entry is final.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .models import (
    DEFAULT_TENANT,
    JournalBegin,
    JournalEntry,
    PauseClaim,
    PauseRecord,
    PauseTicket,
    RunRecord,
    RunStatus,
)

__all__ = ["JournalStore", "PauseStore", "RunStore", "SessionStore"]


@runtime_checkable
class RunStore(Protocol):
    """Runs with their serialised state, saved with optimistic concurrency."""

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
        """Create a run at version 1 (a random ``run_id`` when none is given).

        With ``owner_id``, the running run is held by that owner for ``lease_s`` seconds.

        Raises:
            DuplicateRunError: the tenant already has a run ``run_id``.
        """
        ...

    async def get_run(self, run_id: str, *, tenant_id: str | None = None) -> RunRecord:
        """Return a run (of ``tenant_id``; ``None``: of the one tenant having that id).

        Raises:
            RunNotFoundError: no such run for this tenant.
        """
        ...

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
        """Save a run only if it is still at ``expected_version``; the version goes up by 1.

        ``state=None`` keeps the stored state; ``error`` records why a run failed. Any
        status but ``running`` ends the owner's lease.

        Raises:
            StaleVersionError: someone saved the run since ``expected_version``.
            RunNotFoundError: no such run for this tenant.
        """
        ...

    async def claim_run(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> RunRecord:
        """Take over an ended run, or a running one nobody holds, to continue it.

        The run becomes ``running``, owned by ``owner_id``; its version goes up by 1.

        Raises:
            RunNotFoundError: no such run for this tenant.
            RunInUseError: the run is paused, or another owner's lease is live.
        """
        ...

    async def renew_run_lease(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> datetime:
        """Extend the owner's lease on a running run; return its new end.

        Raises:
            RunLeaseLostError: ``owner_id`` no longer holds the running run.
        """
        ...

    async def recover_stale_runs(
        self,
        *,
        owner_id: str,
        lease_s: float = 30.0,
        tenant_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Take over running runs whose owner's lease lapsed; each exactly once.

        Returns:
            The runs now owned by ``owner_id`` (version bumped), to continue.
        """
        ...


@runtime_checkable
class PauseStore(Protocol):
    """Pauses waiting for a human, claimed exactly once and resolved with their run."""

    async def create_pause(
        self,
        run_id: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Save the run (status ``paused``) and a new pause atomically; return its token.

        The token is returned once and never stored in clear; it only works for
        ``tenant_id``.

        Raises:
            StaleVersionError: the run is not at ``expected_run_version``.
            RunNotFoundError: no such run for this tenant.
        """
        ...

    async def claim_pause(
        self,
        token: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        decision: Mapping[str, Any] | None = None,
        lease_s: float = 300.0,
    ) -> PauseClaim:
        """Claim the token's pause for ``lease_s`` seconds; exactly one concurrent claim wins.

        A pause whose claim's lease ended can be claimed again: that claim has
        ``reclaimed=True`` and carries the first claim's decision.

        Raises:
            PauseNotFoundError: unknown token, or another tenant's.
            PauseExpiredError: the pause expired before it was claimed.
            PauseAlreadyClaimedError: another claim holds the pause.
            PauseAlreadyResumedError: the pause was resolved (carries its outcome).
        """
        ...

    async def renew_lease(self, claim: PauseClaim, *, lease_s: float = 300.0) -> datetime:
        """Extend the claim's lease to ``lease_s`` seconds from now; return its new end.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        ...

    async def release_pause(self, claim: PauseClaim) -> PauseRecord:
        """Make the claimed pause pending again, with no decision.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        ...

    async def complete_pause(
        self,
        claim: PauseClaim,
        *,
        run_state: Mapping[str, Any],
        run_status: RunStatus,
        expected_run_version: int,
        outcome: Mapping[str, Any] | None = None,
        owner_id: str | None = None,
        lease_s: float = 30.0,
    ) -> RunRecord:
        """Resolve the claimed pause (keeping ``outcome``) and save the run, atomically.

        With ``owner_id``, the run (``running`` again) is held by that owner from this
        commit on, for ``lease_s`` seconds unless renewed.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
            StaleVersionError: the run is not at ``expected_run_version``.
        """
        ...

    async def repause(
        self,
        claim: PauseClaim,
        *,
        outcome: Mapping[str, Any] | None = None,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Resolve the claimed pause and create the run's next one, atomically.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
            StaleVersionError: the run is not at ``expected_run_version``.
        """
        ...


@runtime_checkable
class JournalStore(Protocol):
    """The tool-call journal: one entry per ``(tenant_id, run_id, call_hash)``."""

    async def journal_begin(
        self,
        run_id: str,
        call_hash: str,
        *,
        tool: str,
        args: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalBegin:
        """Record that a call starts, or report that it already ran (``completed``)."""
        ...

    async def journal_complete(
        self, run_id: str, call_hash: str, *, result: Any, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry:
        """Record a call's result; it is final and the call is never run again.

        Raises:
            ConfigError: the call was never begun.
        """
        ...

    async def journal_fail(
        self,
        run_id: str,
        call_hash: str,
        *,
        error: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalEntry:
        """Record that a call failed; the next ``journal_begin`` starts it again.

        Raises:
            ConfigError: the call was never begun, or it already completed.
        """
        ...


@runtime_checkable
class SessionStore(RunStore, PauseStore, JournalStore, Protocol):
    """Everything a planner needs to record runs, pause for a human and resume exactly once.

    ``isinstance(store, SessionStore)`` (like the smaller protocols) checks only that the
    methods exist; type checkers check their signatures.
    """
