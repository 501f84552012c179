"""A planner's runs and pauses in its ``state_store``.

With a store, a run is recorded when it starts (status ``running``, owned by this
planner: see :mod:`._ownership`), and saved when it finishes (``finished``), fails
(``failed``, with the error) or is cancelled (``cancelled``). A pause commits the run's
state (with the pending step in ``RunState.extensions["hitl"]``) and the pause in one
transaction; only then is the :class:`PlannerPause` with its token returned. If that
commit fails, the run fails with :class:`PauseCommitError` and no token exists.

``tool_context`` is never stored: it is not part of ``RunState``. Resume takes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from ..errors import ConfigError, PenguiFlowError
from ..memory import MemoryStore
from ..sessions import DuplicateRunError, RunRecord, RunStatus, SessionStore
from ..sessions.errors import RunInUseError
from ..sessions.models import PauseTicket
from ._active import ActiveRun
from ._approval import PendingStep, pause_summary
from ._hooks import TELEMETRY_EXTENSION, PauseSpan
from ._ownership import RunLease, describe_error, save_ending
from .errors import PauseCommitError, StateStoreRequiredError
from .pause import PlannerPause
from .run_state import PlannerFinish, RunState

__all__ = ["HITL_EXTENSION", "HitlStore", "pause_store"]

logger = logging.getLogger("penguiflow.planner")

_CANCEL_SAVE_S = 10.0  # a cancelled run waits at most this long to be saved as cancelled
_LEASE_MARGIN_S = 0.05  # waiting out another owner's lease: this much past its end

HITL_EXTENSION = "hitl"
"""The ``RunState.extensions`` entry holding the step a paused run waits on."""


def pause_store(store: SessionStore | MemoryStore | None) -> SessionStore | None:
    """Return ``store`` if it is a :class:`SessionStore` (runs, pauses, journal), else ``None``.

    A memory-only store (``load_memory``/``save_memory``) is fine for short-term memory
    but cannot hold pauses.
    """
    return store if isinstance(store, SessionStore) else None


def _dump(state: RunState) -> dict[str, Any]:
    return state.model_dump(mode="json")


def _session_of(state: RunState) -> tuple[str | None, str | None]:
    """``(session_id, user_id)`` from the run's memory key, when it has one."""
    memory = state.extensions.get("memory")
    key = memory.get("key") if isinstance(memory, dict) else None
    if not isinstance(key, dict):
        return None, None
    session, user = key.get("session_id"), key.get("user_id")
    return (
        session if isinstance(session, str) and session else None,
        user if isinstance(user, str) and user else None,
    )


class HitlStore:
    """Records a planner's runs and pauses in the store (a no-op without one).

    Args:
        store: the session store, or ``None``.
        pause_ttl_s: how long a pause can be resumed (``None``: no expiry).
        owner_id: this planner, as the owner of the runs it works on.
        run_lease_s: the lease on a running run, renewed every third of it.
    """

    def __init__(
        self,
        store: SessionStore | MemoryStore | None,
        *,
        pause_ttl_s: float | None,
        owner_id: str,
        run_lease_s: float,
    ) -> None:
        self.store = pause_store(store)
        self.pause_ttl_s = pause_ttl_s
        self.owner_id = owner_id
        self.run_lease_s = run_lease_s
        self._leases: dict[int, RunLease] = {}  # by id() of the ActiveRun being worked on

    async def open_run(self, run: ActiveRun) -> None:
        """Record a run that starts, owned by this planner (or take over its stored row).

        A run started again with the id of a stored run (``run_from_state``, or a job
        redelivered after its worker died) takes that run over, see :meth:`_take_over`.

        Raises:
            ConfigError: the run is stored as paused: resume it with its token.
            RunInUseError: another process is running it.
            SessionStoreError: the store failed.
        """
        if self.store is None:
            return
        state = run.state
        session_id, user_id = _session_of(state)
        try:
            record = await self.store.create_run(
                run_id=state.run_id,
                tenant_id=state.tenant_id,
                session_id=session_id,
                user_id=user_id,
                state=_dump(state),
                status=RunStatus.RUNNING,
                owner_id=self.owner_id,
                lease_s=self.run_lease_s,
            )
        except DuplicateRunError:
            record = await self._take_over(self.store, state)
        run.stored_version = record.version

    async def _take_over(self, store: SessionStore, state: RunState) -> RunRecord:
        """Take over the stored run of this id: an ended one, or one nobody holds.

        If another process holds it, wait once for its lease to end (at most
        ``run_lease_s``): a dead owner's run is then taken over; an owner still renewing
        its lease is alive, and :class:`RunInUseError` is raised.
        """
        for attempt in range(2):
            try:
                return await store.claim_run(
                    state.run_id,
                    tenant_id=state.tenant_id,
                    owner_id=self.owner_id,
                    lease_s=self.run_lease_s,
                )
            except RunInUseError as exc:
                if exc.status == RunStatus.PAUSED:
                    raise ConfigError(
                        f"run {state.run_id!r} is paused in the state store; continue it "
                        "with planner.resume(token, ...), not run_from_state()"
                    ) from None
                if attempt or exc.lease_until is None:
                    raise
                left = exc.lease_until.timestamp() - time.time()
                await asyncio.sleep(min(max(left, 0.0), self.run_lease_s) + _LEASE_MARGIN_S)
        raise AssertionError("unreachable: the second attempt returns or raises")

    @contextlib.asynccontextmanager
    async def working_on(self, run: ActiveRun) -> AsyncIterator[None]:
        """Own the run while the block works on it; if the block fails, record how.

        A cancelled block leaves the run ``cancelled``; an exception leaves it ``failed``
        with the error (and a ``finish`` event with ``reason: error``).

        Raises:
            RunLeaseLostError: another process took the run over (see :mod:`._ownership`).
        """
        owning: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if self.store is not None and run.stored_version:
            lease = RunLease(self.store, run, owner_id=self.owner_id, lease_s=self.run_lease_s)
            self._leases[id(run)] = lease
            owning = lease.held()
        try:
            async with owning:
                try:
                    yield
                except asyncio.CancelledError:
                    await self.cancel_run(run)
                    raise
                except Exception as exc:
                    error = describe_error(exc)
                    await run.event("finish", error=error, extra={"reason": "error"})
                    await self.fail_run(run, exc)
                    raise
        finally:
            self._leases.pop(id(run), None)

    def _ending(self, run: ActiveRun) -> None:
        lease = self._leases.get(id(run))
        if lease is not None:
            lease.release()

    async def end_run(self, run: ActiveRun, result: PlannerFinish) -> None:
        """Save a finished run (if that fails, it is marked failed: the answer is kept)."""
        if self.store is not None and run.stored_version:
            self._ending(run)
            await save_ending(self.store, run, RunStatus.FINISHED)

    async def fail_run(self, run: ActiveRun, exc: BaseException) -> None:
        """Mark a run failed with its error, best effort (the store may be what failed)."""
        if self.store is not None and run.stored_version:
            self._ending(run)
            await save_ending(self.store, run, RunStatus.FAILED, describe_error(exc))

    async def cancel_run(self, run: ActiveRun) -> None:
        """Mark a cancelled run ``cancelled``, best effort and within a bounded time."""
        if self.store is None or not run.stored_version:
            return
        self._ending(run)
        try:
            async with asyncio.timeout(_CANCEL_SAVE_S):
                await save_ending(self.store, run, RunStatus.CANCELLED)
        except TimeoutError:
            logger.warning("could not save run %s as cancelled in time", run.state.run_id)

    def pause_args(self, run: ActiveRun, pending: PendingStep) -> dict[str, Any]:
        """The keyword arguments of ``create_pause`` (and ``repause``) for ``pending``.

        With telemetry on, the run's state keeps the current trace context (the pause's
        span, see :meth:`pause_span`): the resume continues that trace.
        """
        run.sync_elapsed()
        state = run.state
        state.extensions[HITL_EXTENSION] = {"pending": pending.model_dump(mode="json")}
        if run.info.trace is not None:
            state.extensions[TELEMETRY_EXTENSION] = run.info.trace.carrier()
        reason, payload = pause_summary(pending.calls)
        return {
            "reason": reason,
            "payload": payload,
            "pending_calls": [call.model_dump(mode="json") for call in pending.calls],
            "expires_at": None if self.pause_ttl_s is None else timedelta(seconds=self.pause_ttl_s),
            "run_state": _dump(state),
        }

    def require_store(self, pending: PendingStep) -> SessionStore:
        """Return the store.

        Raises:
            StateStoreRequiredError: there is none.
        """
        if self.store is None:
            raise StateStoreRequiredError(pending.calls[0].tool)
        return self.store

    async def pause(self, run: ActiveRun, pending: PendingStep) -> PlannerPause:
        """Commit the run's state and a pause in one transaction; return the pause.

        Raises:
            StateStoreRequiredError: the planner has no store.
            PauseCommitError: the commit failed; no token exists and the run failed.
        """
        store = self.require_store(pending)
        with self.pause_span(run, pending) as span:
            args = self.pause_args(run, pending)
            state = run.state
            self._ending(run)
            try:
                ticket = await store.create_pause(
                    state.run_id,
                    tenant_id=state.tenant_id,
                    expected_run_version=run.stored_version,
                    **args,
                )
            except (PenguiFlowError, OSError) as exc:
                raise PauseCommitError(state.run_id, f"{type(exc).__name__}: {exc}") from exc
            if span is not None:
                span.committed(ticket.pause.pause_id)
        run.stored_version = ticket.run_version
        return await self.paused(run, pending, ticket, args)

    def pause_span(
        self, run: ActiveRun, pending: PendingStep
    ) -> contextlib.AbstractContextManager[PauseSpan | None]:
        """The span of committing ``pending`` as a pause (``None`` with telemetry off)."""
        trace = run.info.trace
        if trace is None:
            return contextlib.nullcontext()
        reason, _ = pause_summary(pending.calls)
        return trace.pause(reason, pending.calls)

    async def paused(
        self, run: ActiveRun, pending: PendingStep, ticket: PauseTicket, args: dict[str, Any]
    ) -> PlannerPause:
        """Report a committed pause (event) and build the :class:`PlannerPause`."""
        record = ticket.pause
        await run.event(
            "pause",
            extra={
                "reason": args["reason"],
                "pause_id": record.pause_id,
                "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
                "calls": [
                    {"call_id": c.call_id, "tool": c.tool, "kind": c.kind} for c in pending.calls
                ],
            },
        )
        return PlannerPause(
            reason=args["reason"],
            payload=args["payload"],
            resume_token=ticket.token,
            pending_calls=pending.calls,
            expires_at=record.expires_at,
            run_id=run.state.run_id,
            pause_id=record.pause_id,
            metadata=run.state.metadata(),
        )
