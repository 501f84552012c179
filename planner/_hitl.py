"""A planner's runs and pauses in its ``state_store``.

With a store, a run is recorded when it starts (status ``running``), and saved when it
finishes (``finished``) or fails (``failed``). A pause commits the run's state (with the
pending step in ``RunState.extensions["hitl"]``) and the pause in one transaction; only
then is the :class:`PlannerPause` with its token returned. If that commit fails, the run
fails with :class:`PauseCommitError` and no token exists.

``tool_context`` is never stored: it is not part of ``RunState``. Resume takes it again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ..errors import ConfigError, PenguiFlowError
from ..memory import MemoryStore
from ..sessions import DuplicateRunError, PauseTicket, RunStatus, SessionStore
from ._approval import PendingStep, pause_summary
from ._steps import ActiveRun
from .errors import PauseCommitError, StateStoreRequiredError
from .pause import PlannerPause
from .run_state import PlannerFinish, RunState

__all__ = ["HITL_EXTENSION", "HitlStore", "pause_store"]

logger = logging.getLogger("penguiflow.planner")

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
    """

    def __init__(
        self, store: SessionStore | MemoryStore | None, *, pause_ttl_s: float | None
    ) -> None:
        self.store = pause_store(store)
        self.pause_ttl_s = pause_ttl_s

    async def open_run(self, run: ActiveRun) -> None:
        """Record a run that starts (or adopt its stored row when continued by id).

        Raises:
            ConfigError: the run is stored as paused: resume it with its token.
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
            )
        except DuplicateRunError:
            record = await self.store.get_run(state.run_id, tenant_id=state.tenant_id)
            if record.status is RunStatus.PAUSED:
                raise ConfigError(
                    f"run {state.run_id!r} is paused in the state store; continue it with "
                    "planner.resume(token, ...), not run_from_state()"
                ) from None
        run.stored_version = record.version

    async def end_run(self, run: ActiveRun, result: PlannerFinish) -> None:
        """Save a finished run (a failure to save is logged: the answer is kept)."""
        await self._save_quietly(run, RunStatus.FINISHED)

    async def fail_run(self, run: ActiveRun) -> None:
        """Mark a run failed, best effort (the store may be what failed)."""
        await self._save_quietly(run, RunStatus.FAILED)

    async def _save_quietly(self, run: ActiveRun, status: RunStatus) -> None:
        if self.store is None or not run.stored_version:
            return
        state = run.state
        try:
            record = await self.store.save_run(
                state.run_id,
                state=_dump(state),
                status=status,
                expected_version=run.stored_version,
                tenant_id=state.tenant_id,
            )
        except (PenguiFlowError, OSError) as exc:
            logger.warning(
                "could not save run %s as %s in the state store: %s",
                state.run_id,
                status,
                exc,
                extra={"run_id": state.run_id},
            )
            return
        run.stored_version = record.version

    def pause_args(self, run: ActiveRun, pending: PendingStep) -> dict[str, Any]:
        """The keyword arguments of ``create_pause`` (and ``repause``) for ``pending``."""
        run.sync_elapsed()
        state = run.state
        state.extensions[HITL_EXTENSION] = {"pending": pending.model_dump(mode="json")}
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
        args = self.pause_args(run, pending)
        state = run.state
        try:
            ticket = await store.create_pause(
                state.run_id,
                tenant_id=state.tenant_id,
                expected_run_version=run.stored_version,
                **args,
            )
        except (PenguiFlowError, OSError) as exc:
            await self.fail_run(run)
            raise PauseCommitError(state.run_id, f"{type(exc).__name__}: {exc}") from exc
        run.stored_version = ticket.run_version
        return await self.paused(run, pending, ticket, args)

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
