"""``InMemorySessionStore``: runs, pauses, tool journal and memory kept in this process.

For tests, notebooks and single-process demos: pauses can be resumed in the same process,
exactly once, with the same records and errors as
:class:`~penguiflow.sessions.SqlSessionStore`, and everything is lost when the process
ends. Production deployments use ``SqlSessionStore`` (SQLite or PostgreSQL).

Every method changes the store without awaiting anything in between, so on one event
loop each call is atomic: of concurrent claims of a pause exactly one wins, as with the
SQL store. Values are stored as the same JSON records the SQL store writes and read back
through the same record builders, so both stores return equal records.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from penguiflow.errors import ConfigError

from ._codec import decode_dict, encode, epoch, to_datetime, to_datetime_required
from ._in_memory_runs import InMemoryRuns, Run
from ._rows import (
    check_id,
    check_json_objects,
    check_positive,
    journal_from_row,
    pause_from_row,
    run_from_row,
)
from .errors import (
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseLeaseLostError,
    PauseNotFoundError,
    StaleVersionError,
)
from .models import (
    DEFAULT_TENANT,
    JournalBegin,
    JournalEntry,
    JournalStatus,
    MemoryKeyLike,
    PauseClaim,
    PauseRecord,
    PauseStatus,
    PauseTicket,
    RunRecord,
    RunStatus,
)

__all__ = ["InMemorySessionStore"]

_TOKEN_PREFIX = "pf_"
_MAX_TOKEN_LEN = 512


@dataclass(slots=True)
class _Pause:
    pause_id: str
    token_hash: str
    run_id: str
    tenant_id: str
    reason: str
    payload: str
    pending_calls: str
    expires_at: float | None
    created_at: float
    status: str = PauseStatus.PENDING.value
    claim_id: str | None = None
    claimed_at: float | None = None
    lease_until: float | None = None
    claim_count: int = 0
    decision: str | None = None
    outcome: str | None = None
    resolved_at: float | None = None


@dataclass(slots=True)
class _Call:
    tenant_id: str
    run_id: str
    call_hash: str
    tool: str
    args: str
    status: str
    attempts: int
    created_at: float
    updated_at: float
    result: str | None = None
    error: str | None = None


def _hash(token: object) -> str:
    if not isinstance(token, str):
        raise ConfigError(f"a resume token must be a str, got {type(token).__name__}")
    if not token or len(token) > _MAX_TOKEN_LEN:
        raise PauseNotFoundError()
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _memory_parts(key: MemoryKeyLike) -> tuple[str, str, str]:
    tenant = getattr(key, "tenant_id", None)
    if not isinstance(tenant, str) or not tenant:
        raise ConfigError(
            f"a memory key needs a non-empty tenant_id, got {tenant!r}; pass "
            "MemoryKey(tenant_id=..., user_id=..., session_id=...)"
        )
    return tenant, getattr(key, "user_id", None) or "", getattr(key, "session_id", None) or ""


class InMemorySessionStore(InMemoryRuns):
    """A :class:`~penguiflow.sessions.SessionStore` (and memory store) in process memory.

    Runs, pauses, the tool-call journal and conversation memory live in this object and
    are lost when the process ends: use it in tests and notebooks, and
    ``SqlSessionStore`` wherever a pause must survive a restart. It needs no setup and
    nothing to close.

    Args:
        clock: returns the current UNIX time in seconds (pause expiry and leases); inject
            one in tests.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock=clock)
        self._pauses: dict[str, _Pause] = {}  # by token hash
        self._journal: dict[tuple[str, str, str], _Call] = {}
        self._memory: dict[tuple[str, str, str], tuple[str, int]] = {}

    def __repr__(self) -> str:
        return f"InMemorySessionStore(runs={len(self._runs)}, pauses={len(self._pauses)})"

    # -- pauses --------------------------------------------------------------------------

    def _new_pause(
        self,
        run: Run,
        reason: object,
        payload: Mapping[str, Any] | None,
        pending_calls: Sequence[Mapping[str, Any]],
        expires_at: datetime | timedelta | None,
    ) -> tuple[str, _Pause]:
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"reason must be a non-empty string, got {reason!r}")
        now = self._clock()
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        pause = _Pause(
            pause_id=uuid.uuid4().hex,
            token_hash=_hash(token),
            run_id=run.run_id,
            tenant_id=run.tenant_id,
            reason=reason,
            payload=encode(None if payload is None else dict(payload), what="pause payload"),
            pending_calls=encode(
                check_json_objects("pending_calls", pending_calls), what="pending calls"
            ),
            expires_at=epoch(expires_at, now=now, name="expires_at"),
            created_at=now,
        )
        return token, pause

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
        """Save the run as paused and a new pause together; return the token (once).

        Raises:
            StaleVersionError: the run is not at ``expected_run_version``.
            RunNotFoundError: no such run for this tenant.
        """
        check_id("tenant_id", tenant_id)
        run = self._run(run_id, tenant_id)
        text = encode(dict(run_state), what="run state")
        token, pause = self._new_pause(run, reason, payload, pending_calls, expires_at)
        self._update(run, text, RunStatus.PAUSED, expected_run_version)
        self._pauses[pause.token_hash] = pause
        return PauseTicket(
            token=token, pause=pause_from_row(pause, now=self._clock()), run_version=run.version
        )

    async def get_pause(self, token: str, *, tenant_id: str = DEFAULT_TENANT) -> PauseRecord:
        """Return the pause a resume token belongs to.

        Raises:
            PauseNotFoundError: unknown token, or another tenant's token.
        """
        pause = self._pauses.get(_hash(token))
        if pause is None or pause.tenant_id != tenant_id:
            raise PauseNotFoundError()
        return pause_from_row(pause, now=self._clock())

    def _refuse(self, pause: _Pause, now: float) -> None:
        """Raise why ``pause`` cannot be claimed now (nothing when it can)."""
        if pause.status == PauseStatus.RESOLVED.value:
            record = pause_from_row(pause, now=now)
            raise PauseAlreadyResumedError(
                pause_id=pause.pause_id,
                run_id=pause.run_id,
                outcome=record.outcome,
                resolved_at=record.resolved_at,
            )
        if pause.status == PauseStatus.CLAIMED.value and (
            pause.lease_until is None or pause.lease_until > now
        ):
            raise PauseAlreadyClaimedError(
                pause_id=pause.pause_id,
                run_id=pause.run_id,
                lease_until=to_datetime(pause.lease_until),
            )
        if pause.expires_at is not None and pause.expires_at <= now:
            if pause.status == PauseStatus.PENDING.value:
                raise PauseExpiredError(
                    pause_id=pause.pause_id,
                    run_id=pause.run_id,
                    expired_at=to_datetime(pause.expires_at),
                )

    async def claim_pause(
        self,
        token: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        decision: Mapping[str, Any] | None = None,
        lease_s: float = 300.0,
    ) -> PauseClaim:
        """Claim the token's pause for ``lease_s`` seconds; exactly one claim wins.

        A pause whose claim's lease ended can be claimed again, keeping the first decision.

        Raises:
            PauseNotFoundError: unknown token, or another tenant's.
            PauseExpiredError: the pause expired before it was claimed.
            PauseAlreadyClaimedError: another claim holds the pause.
            PauseAlreadyResumedError: the pause was resolved (carries its outcome).
        """
        pause = self._pauses.get(_hash(token))
        lease = check_positive("lease_s", lease_s)
        decision_text = encode(None if decision is None else dict(decision), what="resume decision")
        if pause is None or pause.tenant_id != tenant_id:
            raise PauseNotFoundError()
        now = self._clock()
        self._refuse(pause, now)
        run = self._run(pause.run_id, tenant_id)
        if pause.status == PauseStatus.PENDING.value:
            pause.decision = decision_text
        pause.status, pause.claim_id = PauseStatus.CLAIMED.value, uuid.uuid4().hex
        pause.claimed_at, pause.lease_until = now, now + lease
        pause.claim_count += 1
        record = pause_from_row(pause, now=now)
        return PauseClaim(
            claim_id=pause.claim_id,
            pause=record,
            run=run_from_row(run),
            decision=record.decision,
            lease_until=to_datetime_required(now + lease),
            reclaimed=pause.claim_count > 1,
        )

    def _held(self, claim: PauseClaim) -> _Pause:
        for pause in self._pauses.values():
            if pause.pause_id == claim.pause.pause_id:
                if pause.claim_id == claim.claim_id and pause.status == PauseStatus.CLAIMED.value:
                    return pause
                break
        raise PauseLeaseLostError(pause_id=claim.pause.pause_id, run_id=claim.pause.run_id)

    async def renew_lease(self, claim: PauseClaim, *, lease_s: float = 300.0) -> datetime:
        """Extend the claim's lease to ``lease_s`` seconds from now; return its new end.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        lease = check_positive("lease_s", lease_s)
        pause = self._held(claim)
        pause.lease_until = self._clock() + lease
        return to_datetime_required(pause.lease_until)

    async def release_pause(self, claim: PauseClaim) -> PauseRecord:
        """Make the claimed pause pending again, with no decision.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
        """
        pause = self._held(claim)
        pause.status, pause.claim_id = PauseStatus.PENDING.value, None
        pause.lease_until = pause.decision = None
        return pause_from_row(pause, now=self._clock())

    def _resolve(self, pause: _Pause, outcome: Mapping[str, Any] | None) -> None:
        pause.outcome = encode(None if outcome is None else dict(outcome), what="pause outcome")
        pause.status, pause.resolved_at = PauseStatus.RESOLVED.value, self._clock()
        pause.lease_until = None

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
        """Resolve the claimed pause and save the run, together.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
            StaleVersionError: the run is not at ``expected_run_version``.
        """
        text = encode(dict(run_state), what="run state")
        owner = None
        if owner_id is not None:
            owner = (owner_id, self._lease_end(owner_id, lease_s))
        pause = self._held(claim)
        run = self._run(claim.run.run_id, claim.pause.tenant_id)
        self._update(run, text, RunStatus(run_status), expected_run_version, owner=owner)
        self._resolve(pause, outcome)
        return run_from_row(run)

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
        """Resolve the claimed pause and create the run's next one, together.

        Raises:
            PauseLeaseLostError: the claim no longer holds the pause.
            StaleVersionError: the run is not at ``expected_run_version``.
        """
        text = encode(dict(run_state), what="run state")
        pause = self._held(claim)
        run = self._run(claim.run.run_id, claim.pause.tenant_id)
        token, following = self._new_pause(run, reason, payload, pending_calls, expires_at)
        self._update(run, text, RunStatus.PAUSED, expected_run_version)
        self._resolve(pause, outcome)
        self._pauses[following.token_hash] = following
        return PauseTicket(
            token=token,
            pause=pause_from_row(following, now=self._clock()),
            run_version=run.version,
        )

    # -- tool-call journal ---------------------------------------------------------------

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
        check_id("tenant_id", tenant_id)
        check_id("run_id", run_id, max_len=64)
        check_id("call_hash", call_hash, max_len=128)
        check_id("tool", tool)
        text = encode(dict(args), what="tool call arguments")
        now = self._clock()
        key = (tenant_id, run_id, call_hash)
        entry = self._journal.get(key)
        if entry is None:
            entry = _Call(tenant_id, run_id, call_hash, tool, text, "started", 1, now, now)
            self._journal[key] = entry
            return JournalBegin(entry=journal_from_row(entry), is_new=True, previous_status=None)
        previous = JournalStatus(entry.status)
        if previous is not JournalStatus.COMPLETED:
            entry.status, entry.attempts = JournalStatus.STARTED.value, entry.attempts + 1
            entry.updated_at = now
        return JournalBegin(entry=journal_from_row(entry), is_new=False, previous_status=previous)

    def _finishable(self, tenant_id: str, run_id: str, call_hash: str) -> _Call:
        entry = self._journal.get((tenant_id, run_id, call_hash))
        if entry is None:
            raise ConfigError(
                f"tool call {call_hash!r} of run {run_id!r} was never begun; call "
                "journal_begin() before recording its outcome"
            )
        if entry.status == JournalStatus.COMPLETED.value:
            raise ConfigError(
                f"tool call {call_hash!r} of run {run_id!r} already completed; its result is "
                "final and cannot be replaced"
            )
        return entry

    async def journal_complete(
        self, run_id: str, call_hash: str, *, result: Any, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry:
        """Record a call's result; it is final and the call is never run again.

        Raises:
            ConfigError: the call was never begun, or it already completed.
        """
        text = encode(result, what="tool call result")
        entry = self._finishable(tenant_id, run_id, call_hash)
        entry.status, entry.result, entry.updated_at = "completed", text, self._clock()
        return journal_from_row(entry)

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
        text = encode(dict(error), what="tool call error")
        entry = self._finishable(tenant_id, run_id, call_hash)
        entry.status, entry.error, entry.updated_at = "failed", text, self._clock()
        return journal_from_row(entry)

    # -- conversation memory -------------------------------------------------------------

    async def load_memory(self, key: MemoryKeyLike) -> tuple[dict[str, Any] | None, int]:
        """Return ``(state, version)`` stored under ``key``; ``(None, 0)`` when none."""
        stored = self._memory.get(_memory_parts(key))
        if stored is None:
            return None, 0
        return decode_dict(stored[0], table="memory", record_id=str(key)), stored[1]

    async def save_memory(
        self, key: MemoryKeyLike, state: Mapping[str, Any], *, expected_version: int
    ) -> int:
        """Save the state under ``key`` if it is still at ``expected_version``.

        Raises:
            StaleVersionError: another writer saved first; load again, merge, retry.
        """
        parts = _memory_parts(key)
        text = encode(dict(state), what="memory state")
        actual = self._memory.get(parts, ("", 0))[1]
        if actual != expected_version:
            raise StaleVersionError(
                entity="memory", key="/".join(parts), expected=expected_version, actual=actual
            )
        self._memory[parts] = (text, actual + 1)
        return actual + 1
