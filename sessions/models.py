"""Records returned by the session store (pydantic models; no database imports)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_TENANT",
    "JournalBegin",
    "JournalEntry",
    "JournalStatus",
    "MemoryKeyLike",
    "PauseClaim",
    "PauseRecord",
    "PauseStatus",
    "PauseTicket",
    "PruneResult",
    "RunRecord",
    "RunStatus",
    "SessionRecord",
    "StoreState",
]

DEFAULT_TENANT = "default"
"""The tenant used when an application does not separate tenants."""


class StoreState(enum.StrEnum):
    """Lifecycle of a :class:`~penguiflow.sessions.SqlSessionStore`."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class RunStatus(enum.StrEnum):
    """Status of a run; ``finished``, ``failed`` and ``cancelled`` are terminal."""

    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the run is over (prunable)."""
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED})


class PauseStatus(enum.StrEnum):
    """Status of a pause.

    ``expired`` is never written: a ``pending`` pause whose ``expires_at`` has passed is
    reported as ``expired``.
    """

    PENDING = "pending"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    EXPIRED = "expired"


class JournalStatus(enum.StrEnum):
    """Status of one tool call in the tool-call journal."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SessionRecord(_Record):
    """A conversation session; runs and memory hang off it.

    Attributes:
        tenant_id: the owning tenant.
        session_id: the session's id (unique per tenant).
        user_id: the user the session was first opened for, if known.
        created_at: when the session was first seen.
        updated_at: when a run was last started in it.
    """

    tenant_id: str
    session_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime


class RunRecord(_Record):
    """One planner or flow run with its serialised state.

    A run is identified by ``(tenant_id, run_id)``: two tenants may use the same run id.

    Attributes:
        run_id: the run's id (unique within its tenant).
        tenant_id: the owning tenant.
        session_id: the session the run belongs to, if any.
        user_id: the user the run acts for, if any.
        status: the run's status.
        state: the caller's serialised state (plain JSON).
        version: optimistic concurrency version; starts at 1, +1 on every save.
        created_at: when the run was created.
        updated_at: when the run was last saved.
        owner_id: the process working on the run while it is ``running`` (``None`` when
            no process holds it).
        lease_until: when the owner's lease ends unless renewed; once it has passed, the
            run can be recovered by another process.
        error: why the run failed (``failed`` runs), as ``"ErrorType: message"``.
    """

    run_id: str
    tenant_id: str
    session_id: str | None
    user_id: str | None
    status: RunStatus
    state: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    owner_id: str | None = None
    lease_until: datetime | None = None
    error: str | None = None


class PauseRecord(_Record):
    """A paused run waiting for a human (never contains the resume token).

    Attributes:
        pause_id: the pause's id (safe to show to operators).
        run_id: the paused run.
        tenant_id: the owning tenant.
        reason: why the run paused (``approval_required``, ``await_input``, ...).
        payload: what the human needs to decide (plain JSON).
        pending_calls: the tool calls waiting for approval (plain JSON objects).
        status: the pause's status (``expired`` if pending past ``expires_at``).
        created_at: when the pause was committed.
        expires_at: after this a pending pause can no longer be claimed (``None``: never).
        claimed_at: when it was last claimed.
        lease_until: when the current claim's lease ends.
        claim_count: how many times it was claimed (more than 1 after a lease expired).
        decision: the human's decision recorded by the first claim.
        outcome: what the resumer recorded when it completed the pause.
        resolved_at: when it was completed.
    """

    pause_id: str
    run_id: str
    tenant_id: str
    reason: str
    payload: dict[str, Any] | None
    pending_calls: list[dict[str, Any]]
    status: PauseStatus
    created_at: datetime
    expires_at: datetime | None
    claimed_at: datetime | None
    lease_until: datetime | None
    claim_count: int
    decision: dict[str, Any] | None
    outcome: dict[str, Any] | None
    resolved_at: datetime | None


class PauseTicket(_Record):
    """What :meth:`SqlSessionStore.create_pause` returns, once.

    Attributes:
        token: the resume token in plain text. The store keeps only its SHA-256 hash, so
            this is the only copy: hand it to the human or the caller, never log it.
        pause: the stored pause.
        run_version: the run's version after the pause was committed.
    """

    token: str = Field(repr=False)
    pause: PauseRecord
    run_version: int


class PauseClaim(_Record):
    """An exclusive, leased claim on a pause, returned by ``claim_pause``.

    Attributes:
        claim_id: identifies this claim; ``complete_pause``/``release_pause``/``renew_lease``
            succeed only while it still holds the pause.
        pause: the pause as it is after the claim.
        run: the paused run (its state is what to resume from).
        decision: the decision to act on. On a re-claim after a lease expired this is the
            decision recorded by the first claim, not the one passed to the re-claim.
        lease_until: when the lease ends; finish or renew before then.
        reclaimed: whether an earlier claim's lease had expired (the earlier resumer may
            have run some tool calls: consult the tool-call journal).
    """

    claim_id: str
    pause: PauseRecord
    run: RunRecord
    decision: dict[str, Any] | None
    lease_until: datetime
    reclaimed: bool


class JournalEntry(_Record):
    """One tool call in the tool-call journal (key: ``tenant_id``, ``run_id``, ``call_hash``).

    Attributes:
        run_id: the run the call belongs to.
        call_hash: the idempotency key of the call.
        tool: the tool's name.
        args: the call's arguments (plain JSON).
        status: started, completed or failed.
        result: the recorded result once completed.
        error: the recorded error once failed.
        attempts: how many times the call was begun.
        created_at: when the call was first begun.
        updated_at: when the entry last changed.
        tenant_id: the tenant of the run.
    """

    run_id: str
    call_hash: str
    tool: str
    args: dict[str, Any]
    status: JournalStatus
    result: Any = None
    error: dict[str, Any] | None = None
    attempts: int
    created_at: datetime
    updated_at: datetime
    tenant_id: str = DEFAULT_TENANT


class JournalBegin(_Record):
    """What ``journal_begin`` found.

    Attributes:
        entry: the journal entry after the call (status ``started`` unless it had
            already completed).
        is_new: ``True`` if this call was never begun before: run it.
        previous_status: the status before this call when it was not new. ``completed``
            means: do not run the tool again, use ``entry.result``. ``started`` means an
            earlier attempt began and never recorded an outcome (it may have had effects:
            pass the same idempotency key to the tool). ``failed``: the earlier attempt failed.
    """

    entry: JournalEntry
    is_new: bool
    previous_status: JournalStatus | None

    @property
    def completed(self) -> bool:
        """Whether the call already completed (use ``entry.result``, do not run it)."""
        return self.entry.status is JournalStatus.COMPLETED


class PruneResult(_Record):
    """How many rows ``prune`` removed, per kind.

    Attributes:
        runs: finished/failed/cancelled runs.
        pauses: expired pending pauses, resolved pauses, and pauses of pruned runs.
        journal_entries: tool-call journal entries of pruned runs.
        events: flow events.
        remote_bindings: remote bindings.
    """

    runs: int = 0
    pauses: int = 0
    journal_entries: int = 0
    events: int = 0
    remote_bindings: int = 0


class MemoryKeyLike(Protocol):
    """Anything with ``tenant_id``, ``user_id`` and ``session_id`` (e.g. ``MemoryKey``).

    ``tenant_id`` must be a non-empty string. ``None`` user or session ids are stored as
    the empty string, so ``None`` and ``""`` name the same memory.
    """

    @property
    def tenant_id(self) -> str | None:
        """The tenant."""
        ...

    @property
    def user_id(self) -> str | None:
        """The user."""
        ...

    @property
    def session_id(self) -> str | None:
        """The session."""
        ...
