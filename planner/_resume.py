"""``planner.resume()``: claim a pause exactly once, act on the decision, continue the run.

1. ``claim_pause`` (one conditional UPDATE: exactly one concurrent resumer wins; the
   decision is recorded with the claim).
2. The run state is restored and the decision checked against the pending calls; if it
   does not fit, the pause is released (still resumable) and ``ResumeDecisionError`` raised.
3. Approved calls run through the tool-call journal (see :mod:`._journal`) while a
   background task renews the claim's lease; rejected calls and human input become
   observations. The step is then recorded in the trajectory.
4. The step is committed: ``complete_pause`` (state saved, pause resolved, the run owned
   by this planner) -- or, if the step needs a human again, ``repause`` (resolve + new
   pause, one transaction).
5. The run continues like any other; it may finish or pause again. If this process dies
   now, the run is recovered once its lease lapses (``planner.recover_stale_runs``).

A resumer that dies in step 3 or 4 leaves the pause claimed; once the lease expires any
process can resume it again, acting on the **first** decision, and the journal keeps
completed calls from running twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..catalog import NodeSpec
from ..errors import ConfigError, PenguiFlowError
from ..sessions import PauseStore, RunStatus, SessionStore
from ..sessions.errors import PauseLeaseLostError
from ..sessions.models import PauseClaim
from ._active import ActiveRun, BudgetHit, StepResult
from ._approval import PendingStep, journal_key, pending_call
from ._decisions import Verdict, rejection_text, resolve
from ._executor import ToolExecutor, ToolOutcome
from ._hitl import HITL_EXTENSION, HitlStore
from ._hooks import RunTrace, TraceRun, traced_run
from ._journal import JournaledCaller
from ._steps import StepRunner, outcome_record, record_tool_step
from .actions import ParallelJoin
from .errors import RunStateError
from .pause import PendingCall, PlannerPause
from .run_state import RUN_STATE_VERSION, LLMUsage, PlannerFinish, RunState

__all__ = ["Resumer"]

logger = logging.getLogger("penguiflow.planner")

Enter = Callable[[RunState, Any], Awaitable[tuple[ActiveRun, Any]]]
Proceed = Callable[[ActiveRun, Any, StepResult], Awaitable["PlannerFinish | PlannerPause"]]


def _index(call: PendingCall) -> int:
    return int(call.call_id.rsplit("_", 1)[1])


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A claimed pause, its restored run and the checked decision."""

    store: SessionStore
    claim: PauseClaim
    state: RunState
    pending: PendingStep
    verdicts: dict[str, Verdict]


def _resume_span(
    trace: RunTrace | None, claim: PauseClaim, decisions: Mapping[str, str]
) -> contextlib.AbstractContextManager[None]:
    if trace is None:
        return contextlib.nullcontext()
    return trace.resume(claim.pause.pause_id, reclaimed=claim.reclaimed, decisions=decisions)


class Resumer:
    """Resumes a planner's paused runs (one per planner; holds no per-run state).

    Args:
        hitl: the planner's runs and pauses in its store.
        specs: the catalog by name.
        executor: runs the tool calls.
        steps: records steps (parallel joins included).
        lease_s: the claim's lease; renewed every third of it while calls run.
    """

    def __init__(
        self,
        hitl: HitlStore,
        specs: Mapping[str, NodeSpec],
        executor: ToolExecutor,
        steps: StepRunner,
        *,
        lease_s: float,
    ) -> None:
        self._hitl = hitl
        self._specs = specs
        self._executor = executor
        self._steps = steps
        self._lease_s = lease_s

    async def resume(
        self,
        token: str,
        decision: dict[str, Any],
        *,
        tenant_id: str,
        tool_context: Any,
        enter: Enter,
        proceed: Proceed,
        trace: TraceRun | None = None,
    ) -> PlannerFinish | PlannerPause:
        """Resume the pause ``token`` belongs to (see the module docstring).

        ``trace`` opens the run's span when telemetry is on.
        """
        store = self._hitl.store
        if store is None:
            raise ConfigError(
                "planner.resume() needs the run's state store: build the planner with "
                "ReactPlanner(state_store=SqlSessionStore(url)) on the database the run "
                "paused in"
            )
        claim = await store.claim_pause(
            token, tenant_id=tenant_id, decision=decision, lease_s=self._lease_s
        )
        try:  # nothing has run yet: on any failure, give the pause back
            state, pending = self._restore(claim)
            verdicts = resolve(claim.decision or {}, pending, self._specs, claim.pause.pause_id)
        except Exception:
            await _release_quietly(store, claim)
            raise
        claimed = _Claimed(store, claim, state, pending, verdicts)
        if trace is None:
            return await self._continue(claimed, None, tool_context, enter, proceed)
        return await traced_run(
            trace,
            state,
            lambda run_trace: self._continue(claimed, run_trace, tool_context, enter, proceed),
        )

    async def _continue(
        self,
        claimed: _Claimed,
        trace: RunTrace | None,
        tool_context: Any,
        enter: Enter,
        proceed: Proceed,
    ) -> PlannerFinish | PlannerPause:
        """Act on the claimed pause, commit the step, and continue the run."""
        store, claim, state = claimed.store, claimed.claim, claimed.state
        try:  # nothing has run yet: on any failure, give the pause back
            run, memory = await enter(state, tool_context)
        except Exception:
            await _release_quietly(store, claim)
            raise
        run.info.trace = trace
        run.stored_version = claim.run.version
        decisions = {cid: v.describe() for cid, v in claimed.verdicts.items()}
        await run.event(
            "resume",
            extra={
                "pause_id": claim.pause.pause_id,
                "reclaimed": claim.reclaimed,
                "decisions": decisions,
            },
        )
        with _resume_span(trace, claim, decisions):
            result = await self._decide(claimed, run)
        if isinstance(result, PlannerPause):
            return result
        return await proceed(run, memory, result)

    async def _decide(self, claimed: _Claimed, run: ActiveRun) -> StepResult | PlannerPause:
        """Run the decided calls and commit the step: resolved (the run goes on), or a new pause."""
        store, claim, state = claimed.store, claimed.claim, claimed.state
        pending, verdicts = claimed.pending, claimed.verdicts
        caller = JournaledCaller(
            store, self._executor, self._specs, state.run_id, tenant_id=state.tenant_id
        )
        first = len(state.steps)
        async with _lease_keeper(store, claim, self._lease_s):
            result = await self._complete(run, pending, verdicts, caller)
        if isinstance(result, PendingStep):
            result.usage = pending.usage
        else:
            await run.close_step(first, pending.kind, pending.usage or LLMUsage().to_dict())
        outcome = {
            "run_id": state.run_id,
            "reclaimed": claim.reclaimed,
            "calls": [
                {"call_id": cid, "tool": v.call.tool, "decision": v.describe()}
                for cid, v in verdicts.items()
            ],
            "unknown_outcome": caller.unknown,
        }
        if isinstance(result, PendingStep):
            with self._hitl.pause_span(run, result) as span:
                args = self._hitl.pause_args(run, result)
                ticket = await store.repause(
                    claim, outcome=outcome, expected_run_version=run.stored_version, **args
                )
                if span is not None:
                    span.committed(ticket.pause.pause_id)
            run.stored_version = ticket.run_version
            return await self._hitl.paused(run, result, ticket, args)
        state.extensions.pop(HITL_EXTENSION, None)
        run.sync_elapsed()
        record = await store.complete_pause(
            claim,
            run_state=state.model_dump(mode="json"),
            run_status=RunStatus.RUNNING,
            expected_run_version=run.stored_version,
            outcome=outcome,
            owner_id=self._hitl.owner_id,  # if this process dies now, the run is recoverable
            lease_s=self._hitl.run_lease_s,
        )
        run.stored_version = record.version
        return result

    def _restore(self, claim: PauseClaim) -> tuple[RunState, PendingStep]:
        """The run state and the step it waits on, from the claimed run."""
        raw = claim.run.state  # a dict: the store refuses records of another shape
        version = raw.get("version", RUN_STATE_VERSION)
        if isinstance(version, int) and version > RUN_STATE_VERSION:
            raise RunStateError(claim.run.run_id, version, RUN_STATE_VERSION)
        try:
            state = RunState.model_validate(raw)
            hitl = state.extensions.get(HITL_EXTENSION)
            pending = PendingStep.model_validate(
                hitl.get("pending") if isinstance(hitl, dict) else None
            )
        except ValidationError as exc:
            raise ConfigError(
                f"the stored state of run {claim.run.run_id!r} cannot be resumed by this "
                f"planner: {exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
            ) from None
        return state, pending

    # -- completing the pending step ------------------------------------------------------

    async def _complete(
        self,
        run: ActiveRun,
        pending: PendingStep,
        verdicts: dict[str, Verdict],
        caller: JournaledCaller,
    ) -> StepResult:
        if pending.kind == "tool":
            return await self._complete_tool(run, pending, verdicts, caller)
        if pending.kind == "parallel":
            return await self._complete_parallel(run, pending, verdicts, caller)
        return await self._complete_join(run, pending, verdicts, caller)

    def _hop_hit(self, run: ActiveRun, needed: int) -> BudgetHit | None:
        budget = self._steps.hop_budget
        if budget is None or needed == 0:
            return None
        left = budget - run.state.budgets.hops
        if needed <= left:
            return None
        return BudgetHit(
            "hop_budget",
            f"the approved call(s) need {needed} tool call(s), {max(left, 0)} left of "
            f"hop_budget={budget}",
        )

    def _key(self, run: ActiveRun, verdict: Verdict) -> str:
        state = run.state
        index, hashed = _index(verdict.call), verdict.hashed or ""
        return journal_key(state.run_id, run.step, index, hashed, tenant_id=state.tenant_id)

    def _input_call(self, run: ActiveRun, verdict: Verdict, outcome: ToolOutcome) -> PendingCall:
        reason, payload = outcome.pause or ("await_input", None)
        spec = self._specs[verdict.call.tool]
        assert verdict.args is not None  # approved verdicts carry their args
        return pending_call(
            spec,
            verdict.args,
            step=run.step,
            index=_index(verdict.call),
            kind="input",
            reason=reason,
            payload=payload,
        )

    async def _reject_event(self, run: ActiveRun, verdict: Verdict, text: str) -> None:
        await run.event(
            "tool_call_error",
            node_name=verdict.call.tool,
            error=text,
            extra={"code": "rejected_by_reviewer", "call_id": verdict.call.call_id},
        )

    async def _complete_tool(
        self,
        run: ActiveRun,
        pending: PendingStep,
        verdicts: dict[str, Verdict],
        caller: JournaledCaller,
    ) -> StepResult:
        state = run.state
        verdict = verdicts[pending.calls[0].call_id]
        record = dict(pending.action)
        if verdict.action == "reject":
            text = rejection_text(verdict.reason, kind=verdict.call.kind)
            state.add_step(kind="rejected", action=record, error=text)
            await self._reject_event(run, verdict, text)
            return None
        if verdict.action == "input":
            state.add_step(
                kind="tool", action=record, observation=verdict.value, latency_ms=pending.latency_ms
            )
            return None
        if verdict.edited:
            record.update(args=verdict.args_json, edited_by_reviewer=True)
        hit = self._hop_hit(run, 1)
        if hit is not None:
            return hit
        state.budgets.hops += 1
        assert verdict.args is not None
        outcome = await caller(
            verdict.call.tool,
            verdict.args,
            run.info,
            deadline=run.deadline,
            key=self._key(run, verdict),
        )
        outcome.latency_ms += pending.latency_ms
        if outcome.pause is not None:
            call = self._input_call(run, verdict, outcome)
            return PendingStep(
                kind="tool", action=record, calls=[call], latency_ms=outcome.latency_ms
            )
        return record_tool_step(state, record, outcome)

    async def _complete_parallel(
        self,
        run: ActiveRun,
        pending: PendingStep,
        verdicts: dict[str, Verdict],
        caller: JournaledCaller,
    ) -> StepResult:
        started = time.perf_counter()
        records = copy.deepcopy(pending.records or [])
        approved: list[Verdict] = []
        for call in pending.calls:
            verdict, record = verdicts[call.call_id], records[_index(call)]
            if verdict.action == "approve":
                approved.append(verdict)
                if verdict.edited:
                    record.update(args=verdict.args_json, edited_by_reviewer=True)
                continue
            record.pop("pending", None)
            if verdict.action == "reject":
                text = rejection_text(verdict.reason, kind=call.kind)
                record.update(ok=False, error=text)
                await self._reject_event(run, verdict, text)
            else:
                record.update(ok=True, result=verdict.value)
        hit = self._hop_hit(run, len(approved))
        if hit is not None:
            return hit
        run.state.budgets.hops += len(approved)
        outcomes = await self._executor.call_many(
            [(v.call.tool, v.args, self._key(run, v)) for v in approved if v.args is not None],
            run.info,
            deadline=run.deadline,
            limiter=run.limiter,
            caller=caller,
        )
        again: list[PendingCall] = []
        for verdict, outcome in zip(approved, outcomes, strict=True):
            record = records[_index(verdict.call)]
            if outcome.pause is not None:
                call = self._input_call(run, verdict, outcome)
                record["pending"] = call.call_id
                again.append(call)
            else:
                record.pop("pending", None)
                record.update(outcome_record(outcome))
        if again:
            return PendingStep(
                kind="parallel",
                action=pending.action,
                calls=again,
                records=records,
                join=pending.join,
                latency_ms=pending.latency_ms + (time.perf_counter() - started) * 1000,
            )
        join = None if pending.join is None else ParallelJoin.model_validate(pending.join)
        return await run.view.steps.finish_parallel(
            run,
            pending.action,
            records,
            join,
            started=started,
            prior_ms=pending.latency_ms,
            caller=caller,
        )

    async def _complete_join(
        self,
        run: ActiveRun,
        pending: PendingStep,
        verdicts: dict[str, Verdict],
        caller: JournaledCaller,
    ) -> StepResult:
        started = time.perf_counter()
        verdict = verdicts[pending.calls[0].call_id]
        records = pending.records or []
        join_record = dict(pending.join_record or {"node": verdict.call.tool})
        if verdict.action == "reject":
            text = rejection_text(verdict.reason, kind=verdict.call.kind)
            join_record.update(ok=False, error=text)
            await self._reject_event(run, verdict, text)
        elif verdict.action == "input":
            join_record.update(ok=True, result=verdict.value)
        else:
            hit = self._hop_hit(run, 1)
            if hit is not None:
                return hit
            run.state.budgets.hops += 1
            assert verdict.args is not None
            if verdict.edited:
                join_record.update(edited_by_reviewer=True)
            outcome = await caller(
                verdict.call.tool,
                verdict.args,
                run.info,
                deadline=run.deadline,
                key=self._key(run, verdict),
            )
            if outcome.pause is not None:
                return pending.model_copy(
                    update={
                        "calls": [self._input_call(run, verdict, outcome)],
                        "latency_ms": pending.latency_ms + outcome.latency_ms,
                    }
                )
            join_record.update(outcome_record(outcome))
        latency = pending.latency_ms + (time.perf_counter() - started) * 1000
        return run.view.steps.record_parallel(run, pending.action, records, join_record, latency)


async def _release_quietly(store: PauseStore, claim: PauseClaim) -> None:
    """Give the pause back after a resume that could not start; never masks the error."""
    try:
        await store.release_pause(claim)
    except (PenguiFlowError, OSError) as exc:
        logger.warning("could not release pause %s: %s", claim.pause.pause_id, exc)


@contextlib.asynccontextmanager
async def _lease_keeper(
    store: PauseStore, claim: PauseClaim, lease_s: float
) -> AsyncIterator[None]:
    """Renew the claim's lease every third of it while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                await store.renew_lease(claim, lease_s=lease_s)
            except PauseLeaseLostError:
                logger.warning(
                    "lost the lease on pause %s; another process may resume it",
                    claim.pause.pause_id,
                )
                return
            except (PenguiFlowError, OSError) as exc:
                logger.warning("could not renew the lease on %s: %s", claim.pause.pause_id, exc)

    task = asyncio.create_task(renew(), name=f"penguiflow-lease-{claim.pause.pause_id}")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])  # raises only if this task itself is cancelled
