"""Who works on a stored run, and what the store says when the work ends.

While a planner works on a ``running`` run it owns it: the run's row names the planner
(``owner_id``) and a lease, which a background task renews every third of the lease. If
the process dies, the renewals stop, the lease lapses and any process can recover the
run (``ReactPlanner.recover_stale_runs``). If this process finds that another one took
the run over (its lease lapsed while it was still alive, say during a long database
outage), it stops working on it: the run's task is cancelled and
:class:`~penguiflow.sessions.RunLeaseLostError` raised instead.

When the work ends, the run is saved as ``finished``, ``failed`` (with the error) or
``cancelled``; it is never left ``running``. A save that fails because the database is
briefly unavailable is retried a few times; a state that cannot be stored is replaced by
the last one that was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..backoff import backoff_delay
from ..errors import PenguiFlowError
from ..sessions import RunStatus, SessionStore
from ..sessions.errors import RunLeaseLostError, StoreBackendError, UnserializableRecordError
from ._active import ActiveRun

__all__ = ["SAVE_ATTEMPTS", "RunLease", "describe_error", "new_owner_id", "save_ending"]

logger = logging.getLogger("penguiflow.planner")

SAVE_ATTEMPTS = 4
"""Attempts at saving how a run ended, while the database is unavailable."""

_MAX_ERROR_CHARS = 2000


def new_owner_id() -> str:
    """A readable, unique owner id for one planner: ``host:pid:random``."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def describe_error(exc: BaseException) -> str:
    """``"ErrorType: message"``, as stored with a failed run."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


def _dump(run: ActiveRun) -> tuple[dict[str, Any] | None, str | None]:
    """The run's state as JSON, or ``None`` and why it cannot be serialised."""
    try:
        return run.state.model_dump(mode="json"), None
    except (ValueError, RecursionError) as exc:  # pydantic's serialisation errors
        return None, describe_error(exc)


async def save_ending(
    store: SessionStore, run: ActiveRun, status: RunStatus, error: str | None = None
) -> bool:
    """Save how a run ended, best effort; return whether it was saved.

    The run's state is saved with it, retrying up to :data:`SAVE_ATTEMPTS` times while
    the database is unavailable. A state that cannot be stored (not plain JSON, too deep
    to serialise, or refused by the database) is left as it was last stored, and the run
    is saved as ``failed`` with that problem as its error. A run taken over or deleted
    meanwhile is left alone (logged).
    """
    state, problem = _dump(run)
    if state is not None:
        try:
            return await _save_retrying(store, run, state, status, error)
        except _StateRefusedError as refused:
            problem = refused.reason
    if status is not RunStatus.FAILED:
        error = f"the {status.value} run's state could not be stored: {problem}"
    try:
        return await _save_retrying(store, run, None, RunStatus.FAILED, error, attempts=1)
    except _StateRefusedError as refused:  # pragma: no cover - no state is encoded here
        _log_unsaved(run, RunStatus.FAILED, refused)
        return False


class _StateRefusedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _save_retrying(
    store: SessionStore,
    run: ActiveRun,
    state: dict[str, Any] | None,
    status: RunStatus,
    error: str | None,
    *,
    attempts: int = SAVE_ATTEMPTS,
) -> bool:
    """Save the run; ``False`` if it cannot be (logged).

    Raises:
        _StateRefusedError: the state cannot be stored (never raised without a state).
    """
    for attempt in range(1, attempts + 1):
        try:
            record = await store.save_run(
                run.state.run_id,
                state=state,
                status=status,
                expected_version=run.stored_version,
                tenant_id=run.state.tenant_id,
                error=error,
            )
        except UnserializableRecordError as exc:
            raise _StateRefusedError(describe_error(exc)) from exc
        except (StoreBackendError, OSError) as exc:
            if attempt < attempts:
                await asyncio.sleep(backoff_delay(attempt, backoff_base=0.1, max_backoff=2.0))
                continue
            if state is not None:  # down all along, or refusing this state: try without
                raise _StateRefusedError(describe_error(exc)) from exc
            _log_unsaved(run, status, exc)
            return False
        except PenguiFlowError as exc:
            _log_unsaved(run, status, exc)
            return False
        run.stored_version = record.version
        return True
    return False  # pragma: no cover - the last attempt returns or raises


def _log_unsaved(run: ActiveRun, status: RunStatus, exc: BaseException) -> None:
    logger.warning(
        "could not save run %s as %s in the state store: %s",
        run.state.run_id,
        status.value,
        exc,
        extra={"run_id": run.state.run_id},
    )


class RunLease:
    """This process's hold on a running run, renewed in the background while held.

    Args:
        store: the run's store.
        run: the run.
        owner_id: this process, as the run's owner.
        lease_s: the lease, renewed every third of it.
    """

    def __init__(
        self, store: SessionStore, run: ActiveRun, *, owner_id: str, lease_s: float
    ) -> None:
        self._store = store
        self._run = run
        self._owner_id = owner_id
        self._lease_s = lease_s
        self._ending = False
        self._lost = False

    def release(self) -> None:
        """Say that this process is about to end its ownership (pause, finish, fail).

        From then on, a refused renewal means the run ended here, not that it was taken.
        """
        self._ending = True

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Renew the lease while the block runs.

        Raises:
            RunLeaseLostError: another process took the run over; the block was cancelled.
        """
        host = asyncio.current_task()
        state = self._run.state
        task = asyncio.create_task(self._renew(host), name=f"penguiflow-run-lease-{state.run_id}")
        try:
            yield
        except asyncio.CancelledError:
            if self._lost and host is not None and host.uncancel() == 0:
                raise RunLeaseLostError(run_id=state.run_id, owner_id=self._owner_id) from None
            raise
        finally:
            task.cancel()
            await asyncio.wait([task])  # raises only if this task itself is cancelled

    async def _renew(self, host: asyncio.Task[Any] | None) -> None:
        state = self._run.state
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await self._store.renew_run_lease(
                    state.run_id,
                    tenant_id=state.tenant_id,
                    owner_id=self._owner_id,
                    lease_s=self._lease_s,
                )
            except RunLeaseLostError:
                if self._ending:
                    return  # this process paused or ended the run meanwhile
                logger.warning(
                    "run %s was taken over by another process; stopping here",
                    state.run_id,
                    extra={"run_id": state.run_id},
                )
                self._lost = True
                if host is not None:
                    host.cancel(f"run {state.run_id} was taken over by another process")
                return
            except (PenguiFlowError, OSError) as exc:
                logger.warning("could not renew the lease on run %s: %s", state.run_id, exc)
