"""``planner.recover_stale_runs()``: continue runs whose process died, exactly once.

A running run is owned by the process working on it, which renews the run's lease (see
:mod:`._ownership`). If that process dies, for example right after a resume committed
the pause's resolution, the renewals stop and the lease lapses. Recovery then:

1. claims one such run (``store.recover_stale_runs``: one conditional UPDATE, so of any
   number of concurrent recoverers in any number of processes exactly one gets it, and
   the run's version goes up, so the dead owner could not save it any more);
2. continues it here from its last committed state (the state committed when the run
   started, or when its last pause was resolved), like ``run_from_state``, holding its
   lease meanwhile;
3. repeats until no stale run is left (or ``limit`` runs were recovered).

Approved calls made before that commit are part of the committed state (with their
journalled results), so they never run again. What the run did after the commit (LLM
decisions, calls that need no approval) is done again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError, PenguiFlowError
from ..sessions import RunRecord, RunStatus, SessionStore
from ._active import ActiveRun, StepResult
from ._hitl import HitlStore
from ._hooks import RunTrace, TraceRun, traced_run
from ._ownership import describe_error
from .errors import RunStateError
from .pause import PlannerPause
from .run_state import RUN_STATE_VERSION, PlannerFinish, RunState

__all__ = ["RecoveredRun", "Recoverer"]

logger = logging.getLogger("penguiflow.planner")

Enter = Callable[[RunState, Any], Awaitable[tuple[ActiveRun, Any]]]
Proceed = Callable[[ActiveRun, Any, StepResult], Awaitable["PlannerFinish | PlannerPause"]]


@dataclass(frozen=True, slots=True)
class RecoveredRun:
    """A run that :meth:`ReactPlanner.recover_stale_runs` took over and continued.

    Attributes:
        run_id: the run's id.
        tenant_id: the run's tenant.
        result: how it ended here: a ``PlannerFinish``, or a ``PlannerPause`` (its
            ``resume_token`` is the only copy: hand it on) -- ``None`` when it failed.
        error: why it failed (``"ErrorType: message"``; the run is stored as
            ``failed``), or ``None``.
    """

    run_id: str
    tenant_id: str
    result: PlannerFinish | PlannerPause | None = None
    error: str | None = None


class Recoverer:
    """Recovers a planner's stale runs (one per planner; holds no per-run state).

    Args:
        hitl: the planner's runs and pauses in its store.
    """

    def __init__(self, hitl: HitlStore) -> None:
        self._hitl = hitl

    async def recover(
        self,
        *,
        tenant_id: str | None,
        limit: int | None,
        tool_context: Any,
        enter: Enter,
        proceed: Proceed,
        trace: TraceRun | None = None,
    ) -> list[RecoveredRun]:
        """Claim and continue stale runs one at a time (see the module docstring).

        ``trace`` opens each run's span when telemetry is on.
        """
        store = self._hitl.store
        if store is None:
            raise ConfigError(
                "planner.recover_stale_runs() needs the state store the runs are in: build "
                "the planner with ReactPlanner(state_store=SqlSessionStore(url))"
            )
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ConfigError(
                f"recover_stale_runs(limit=...) must be an int >= 1 or None, got {limit!r}"
            )
        recovered: list[RecoveredRun] = []
        while limit is None or len(recovered) < limit:
            claimed = await store.recover_stale_runs(
                owner_id=self._hitl.owner_id,
                lease_s=self._hitl.run_lease_s,
                tenant_id=tenant_id,
                limit=1,
            )
            if not claimed:
                break
            recovered.append(
                await self._continue(store, claimed[0], tool_context, enter, proceed, trace)
            )
        return recovered

    async def _continue(
        self,
        store: SessionStore,
        record: RunRecord,
        tool_context: Any,
        enter: Enter,
        proceed: Proceed,
        trace: TraceRun | None,
    ) -> RecoveredRun:
        try:
            state = _restore(record)
            run, memory = await enter(state, tool_context)
        except Exception as exc:  # the run cannot go on: fail it, or it is recovered again
            error = f"the run could not be recovered: {describe_error(exc)}"
            await _fail_quietly(store, record, error)
            return RecoveredRun(record.run_id, record.tenant_id, error=error)
        run.stored_version = record.version

        async def go_on(run_trace: RunTrace | None) -> PlannerFinish | PlannerPause:
            run.info.trace = run_trace
            await run.event("recover", extra={"owner_id": self._hitl.owner_id})
            return await proceed(run, memory, None)

        try:
            if trace is None:
                result = await go_on(None)
            else:
                result = await traced_run(trace, state, go_on)
        except Exception as exc:  # stored as failed by proceed
            return RecoveredRun(record.run_id, record.tenant_id, error=describe_error(exc))
        return RecoveredRun(record.run_id, record.tenant_id, result=result)


def _restore(record: RunRecord) -> RunState:
    version = record.state.get("version", RUN_STATE_VERSION)
    if isinstance(version, int) and version > RUN_STATE_VERSION:
        raise RunStateError(record.run_id, version, RUN_STATE_VERSION)
    try:
        return RunState.model_validate(record.state)
    except ValidationError as exc:
        raise ConfigError(
            f"the stored state of run {record.run_id!r} is not a planner run's state: "
            f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
        ) from None


async def _fail_quietly(store: SessionStore, record: RunRecord, error: str) -> None:
    try:
        await store.save_run(
            record.run_id,
            state=None,
            status=RunStatus.FAILED,
            expected_version=record.version,
            tenant_id=record.tenant_id,
            error=error,
        )
    except (PenguiFlowError, OSError) as exc:
        # It stays ours until the lease lapses; a later recovery tries again.
        logger.warning("could not mark run %s failed: %s", record.run_id, exc)
