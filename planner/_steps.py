"""Acting on a decided action: one tool call, or a parallel plan with its join.

Problems the LLM can fix become observations in the trajectory (unknown tool, bad
arguments, failed branches); only budget hits and repeated argument failures end the
run. A call that needs a human (``requires_approval``, or ``ctx.pause()`` inside the
tool) ends the step with a :class:`PendingStep` instead: the planner commits a pause.
In a parallel plan the branches that need nobody run first, and every pending branch is
collected into that one pending step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec
from ._active import ActiveRun, ArgFailureLimit, BudgetHit, StepResult
from ._approval import PendingStep, call_hash, journal_key, needs_approval, pending_call
from ._executor import ToolCaller, ToolExecutor, ToolOutcome
from ._guarding import Guard, Held, Refused
from .actions import ParallelJoin, PlannerAction
from .parse import describe_validation_error
from .pause import PendingCall
from .prompts import PlanningHints
from .run_state import RunState, StepKind
from .schema import strip_optional_nulls

__all__ = [
    "StepRunner",
    "call_key",
    "outcome_record",
    "record_tool_step",
    "validate_args",
]


def call_key(run: ActiveRun, spec: NodeSpec, args: BaseModel, index: int) -> Callable[[], str]:
    """The idempotency key of the call at ``index`` of the current step, computed lazily.

    Hashing costs microseconds per call, so it is done only if the tool reads
    ``ctx.idempotency_key``.
    """
    run_id, tenant_id, step = run.state.run_id, run.state.tenant_id, run.step

    def compute() -> str:
        hashed = call_hash(spec, args.model_dump(mode="json"))
        return journal_key(run_id, step, index, hashed, tenant_id=tenant_id)

    return compute


def validate_args(spec: NodeSpec, args: Mapping[str, Any]) -> BaseModel | str:
    """Validate ``args`` for ``spec``; return the model or an error for the LLM.

    A ``null`` sent for an optional argument (as the strict schema allows) is dropped
    before a second attempt, so the tool's default applies.
    """
    try:
        return spec.args_model.__pydantic_validator__.validate_python(args)  # type: ignore[no-any-return]
    except ValidationError as exc:
        stripped = strip_optional_nulls(dict(args), spec.args_schema)
        if stripped != args:
            try:
                return spec.args_model.model_validate(stripped)
            except ValidationError:
                pass
        detail = describe_validation_error(exc, prefix="args.")
        return f"invalid arguments for tool {spec.name!r}: {detail}"


class StepRunner:
    """Executes actions for a planner (immutable configuration, shared by all runs)."""

    def __init__(
        self,
        specs: Sequence[NodeSpec],
        executor: ToolExecutor,
        *,
        hop_budget: int | None,
        hints: PlanningHints | None,
        max_arg_failures: int,
        max_branches: int = 50,
        guard: Guard | None = None,
    ) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._executor = executor
        self._max_branches = max_branches
        self._guard = guard
        self._hop_budget = hop_budget
        self._disallowed = frozenset(hints.disallow_nodes) if hints else frozenset()
        self._sequential = frozenset(hints.sequential_only) if hints else frozenset()
        self._max_arg_failures = max_arg_failures
        self._valid_names = ", ".join(sorted(n for n in self._specs if n not in self._disallowed))

    @property
    def hop_budget(self) -> int | None:
        """The planner's ``hop_budget``."""
        return self._hop_budget

    # -- shared checks ------------------------------------------------------------------

    def _resolve(self, name: str, *, parallel: bool, native: bool = False) -> NodeSpec | str:
        """Return the spec of ``name`` or the error the LLM should see."""
        if name in self._disallowed:
            return f"tool {name!r} may not be called (planning hints); valid tools: {self._valid_names}"
        spec = self._specs.get(name)
        if spec is None:
            how = "reply with text" if native else "use next_node 'final_response'"
            return (
                f"unknown tool {name!r}; valid tools: {self._valid_names or '(none)'}; "
                f"{how} to answer"
            )
        if parallel and name in self._sequential:
            return f"tool {name!r} may not run inside a parallel step (planning hints)"
        return spec

    def _hops_left(self, state: RunState) -> int | None:
        return None if self._hop_budget is None else self._hop_budget - state.budgets.hops

    def _arg_failure(self, state: RunState, tool: str, error: str) -> StepResult:
        counters = state.repairs
        counters.invalid_args += 1
        if counters.arg_failure_tool == tool:
            counters.arg_failure_streak += 1
        else:
            counters.arg_failure_tool, counters.arg_failure_streak = tool, 1
        if counters.arg_failure_streak >= self._max_arg_failures:
            return ArgFailureLimit(tool, counters.arg_failure_streak, error)
        return None

    @staticmethod
    def _reset_streak(state: RunState) -> None:
        if state.repairs.arg_failure_streak:
            state.repairs.arg_failure_tool, state.repairs.arg_failure_streak = None, 0

    async def _screen(
        self, run: ActiveRun, spec: NodeSpec, args: BaseModel, index: int
    ) -> BaseModel | Refused | PendingCall | None:
        """Submit a call to the guardrails.

        Returns:
            The arguments to run it with (redacted, maybe), a refusal for the model, the
            call to hold for approval, or ``None`` when a guardrail stopped the run.
        """
        assert self._guard is not None
        verdict = await self._guard.check_call(run, spec.name, args)
        if verdict is None or isinstance(verdict, Refused):
            return verdict
        if isinstance(verdict, Held):
            return pending_call(
                spec,
                args,
                step=run.step,
                index=index,
                kind="approval",
                reason=verdict.reason,
                payload=verdict.payload,
            )
        if verdict.args is None:
            return args
        redacted = validate_args(spec, verdict.args)
        return Refused(redacted) if isinstance(redacted, str) else redacted

    # -- single tool --------------------------------------------------------------------

    async def run_tool(
        self, run: ActiveRun, action: PlannerAction, call_ids: list[str] | None = None
    ) -> StepResult:
        """Run a single tool call and record the step (``call_ids``: the provider's id)."""
        state = run.state
        record = action.record()
        if call_ids:
            record["call_ids"] = call_ids
        spec = self._resolve(action.next_node, parallel=False, native=run.native)
        if isinstance(spec, str):
            state.repairs.unknown_tool += action.next_node not in self._specs
            kind: StepKind = "unknown_tool" if action.next_node not in self._specs else "rejected"
            state.add_step(kind=kind, action=record, error=spec)
            self._reset_streak(state)
            await run.event(
                "tool_call_error", node_name=action.next_node, error=spec, extra={"code": kind}
            )
            return None
        args = validate_args(spec, action.args)
        if isinstance(args, str):
            state.add_step(kind="invalid_args", action=record, error=args)
            await run.event(
                "tool_call_error", node_name=spec.name, error=args, extra={"code": "invalid_args"}
            )
            return self._arg_failure(state, spec.name, args)
        self._reset_streak(state)
        left = self._hops_left(state)
        if left is not None and left < 1:
            return BudgetHit("hop_budget", f"hop_budget={self._hop_budget} tool calls used")
        if self._guard is not None:
            screened = await self._screen(run, spec, args, 0)
            if screened is None:
                return None  # stopped: the loop ends the run
            if isinstance(screened, Refused):
                state.add_step(kind="rejected", action=record, error=screened.error)
                return None
            if isinstance(screened, PendingCall):
                return PendingStep(kind="tool", action=record, calls=[screened])
            args = screened
        if needs_approval(spec, args):
            call = pending_call(spec, args, step=run.step, index=0, kind="approval")
            return PendingStep(kind="tool", action=record, calls=[call])
        state.budgets.hops += 1
        key = call_key(run, spec, args, 0)
        outcome = await self._executor.call(
            spec.name, args, run.info, deadline=run.deadline, key=key
        )
        if outcome.pause is not None:
            call = _input_call(spec, args, run.step, 0, outcome)
            return PendingStep(
                kind="tool", action=record, calls=[call], latency_ms=outcome.latency_ms
            )
        return record_tool_step(state, record, outcome)

    # -- parallel plans -----------------------------------------------------------------

    async def run_parallel(
        self, run: ActiveRun, action: PlannerAction, call_ids: list[str] | None = None
    ) -> StepResult:
        """Run the branches of a parallel plan (bounded by ``max_parallel``), then the join.

        ``call_ids`` are the provider's ids of the calls when they came as native calls.
        """
        state = run.state
        plan = action.parallel_args()
        action_record = action.record()
        if call_ids:
            action_record["call_ids"] = call_ids
        if len(plan.steps) > self._max_branches:
            error = (
                f"the parallel plan has {len(plan.steps)} branches; at most "
                f"{self._max_branches} are allowed (absolute_max_parallel): split it"
            )
            state.add_step(kind="rejected", action=action_record, error=error)
            return None
        records: list[dict[str, Any]] = []
        runnable: list[tuple[int, str, BaseModel]] = []
        for branch in plan.steps:
            record: dict[str, Any] = {"node": branch.node, "args": branch.args}
            records.append(record)
            spec = self._resolve(branch.node, parallel=True, native=run.native)
            if isinstance(spec, str):
                state.repairs.unknown_tool += branch.node not in self._specs
                record.update(ok=False, error=spec)
                continue
            args = validate_args(spec, branch.args)
            if isinstance(args, str):
                state.repairs.invalid_args += 1
                record.update(ok=False, error=args)
                continue
            runnable.append((len(records) - 1, spec.name, args))
        left = self._hops_left(state)
        if left is not None and len(runnable) > left:
            return BudgetHit(
                "hop_budget",
                f"the parallel plan needs {len(runnable)} tool calls, {max(left, 0)} left "
                f"of hop_budget={self._hop_budget}",
            )
        split = await self._split(run, runnable, records)
        if split is None:
            return None  # a guardrail stopped the run
        free, pending = split
        state.budgets.hops += len(free)
        started = time.perf_counter()
        outcomes = await self._executor.call_many(
            [
                (name, args, call_key(run, self._specs[name], args, index))
                for index, name, args in free
            ],
            run.info,
            deadline=run.deadline,
            limiter=run.limiter,
        )
        for (index, name, args), outcome in zip(free, outcomes, strict=True):
            if outcome.pause is not None:
                call = _input_call(self._specs[name], args, run.step, index, outcome)
                records[index]["pending"] = call.call_id
                pending.append(call)
            else:
                records[index].update(outcome_record(outcome))
        if pending:
            pending.sort(key=lambda c: int(c.call_id.rsplit("_", 1)[1]))
            return PendingStep(
                kind="parallel",
                action=action_record,
                calls=pending,
                records=records,
                join=None if plan.join is None else plan.join.model_dump(mode="json"),
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        return await self.finish_parallel(
            run, action_record, records, plan.join, started=started, prior_ms=0.0
        )

    async def _split(
        self,
        run: ActiveRun,
        runnable: list[tuple[int, str, BaseModel]],
        records: list[dict[str, Any]],
    ) -> tuple[list[tuple[int, str, BaseModel]], list[PendingCall]] | None:
        """The branches that run now and those that wait for a human (``None``: stopped)."""
        pending: list[PendingCall] = []
        free: list[tuple[int, str, BaseModel]] = []
        for index, name, args in runnable:
            spec = self._specs[name]
            if self._guard is not None:
                screened = await self._screen(run, spec, args, index)
                if screened is None:
                    return None
                if isinstance(screened, Refused):
                    records[index].update(ok=False, error=screened.error)
                    continue
                if isinstance(screened, PendingCall):
                    records[index]["pending"] = screened.call_id
                    pending.append(screened)
                    continue
                args = screened
            if needs_approval(spec, args):
                call = pending_call(spec, args, step=run.step, index=index, kind="approval")
                records[index]["pending"] = call.call_id
                pending.append(call)
            else:
                free.append((index, name, args))
        return free, pending

    async def finish_parallel(
        self,
        run: ActiveRun,
        action: dict[str, Any],
        records: list[dict[str, Any]],
        join: ParallelJoin | None,
        *,
        started: float,
        prior_ms: float,
        caller: ToolCaller | None = None,
    ) -> StepResult:
        """Run the join of a parallel step whose branches all ended, and record the step.

        Args:
            run: the run.
            action: the parallel action's record.
            records: one finished record per branch.
            join: the plan's join, if any.
            started: ``time.perf_counter()`` when this process started on the step.
            prior_ms: tool time spent on the step before a pause.
            caller: runs the join call (default: the executor).
        """
        deadline_hit = any(r.get("deadline") for r in records)
        failures = [r for r in records if not r.get("ok")]
        join_record: dict[str, Any] | None = None
        if join is not None and not deadline_hit:
            if failures:
                join_record = {
                    "node": join.node,
                    "skipped": True,
                    "reason": f"{len(failures)} of {len(records)} branch(es) failed",
                }
            else:
                joined = await self._join(run, join, records, caller or self._executor.call)
                if not isinstance(joined, dict):
                    if isinstance(joined, PendingStep):
                        joined.action, joined.records = action, records
                        joined.join = join.model_dump(mode="json")
                        joined.latency_ms = prior_ms + (time.perf_counter() - started) * 1000
                    return joined
                join_record = joined
        latency = prior_ms + (time.perf_counter() - started) * 1000
        return self.record_parallel(run, action, records, join_record, latency)

    def record_parallel(
        self,
        run: ActiveRun,
        action: dict[str, Any],
        records: list[dict[str, Any]],
        join_record: dict[str, Any] | None,
        latency_ms: float,
    ) -> StepResult:
        """Add a finished parallel step to the trajectory."""
        state = run.state
        failures = [r for r in records if not r.get("ok")]
        observation = {
            "branches": records,
            "success_count": len(records) - len(failures),
            "failure_count": len(failures),
            "join": join_record,
        }
        error = _parallel_error(failures, join_record)
        if error:
            state.errors.append(error)
        self._reset_streak(state)
        state.add_step(
            kind="parallel",
            action=action,
            observation=observation,
            error=error,
            latency_ms=latency_ms,
        )
        deadline_hit = any(r.get("deadline") for r in records)
        if deadline_hit or (join_record is not None and join_record.get("deadline")):
            return BudgetHit("deadline_s", "the deadline passed during a parallel step")
        return None

    async def _join(
        self, run: ActiveRun, join: ParallelJoin, records: list[dict[str, Any]], caller: ToolCaller
    ) -> dict[str, Any] | BudgetHit | PendingStep:
        """Run the join; return its record, a budget hit, or the join waiting for a human."""
        node, fixed_args, inject = join.node, join.args, join.inject
        record: dict[str, Any] = {"node": node}
        spec = self._resolve(node, parallel=False)
        if isinstance(spec, str):
            record.update(ok=False, error=spec)
            return record
        sources = {
            "$results": [r.get("result") for r in records],
            "$branches": records,
            "$failures": [r for r in records if not r.get("ok")],
            "$success_count": sum(1 for r in records if r.get("ok")),
            "$failure_count": sum(1 for r in records if not r.get("ok")),
        }
        args = {k: v for k, v in fixed_args.items() if not (v is None and k in inject)}
        args.update({field: sources[source] for field, source in inject.items()})
        validated = validate_args(spec, args)
        if isinstance(validated, str):
            run.state.repairs.invalid_args += 1
            record.update(ok=False, error=validated)
            return record
        left = self._hops_left(run.state)
        if left is not None and left < 1:
            return BudgetHit("hop_budget", f"no hop left for the join {node!r}")
        index = len(records)
        if self._guard is not None:
            screened = await self._screen(run, spec, validated, index)
            if screened is None or isinstance(screened, Refused):
                record.update(ok=False, error=screened.error if screened else "stopped")
                return record
            if isinstance(screened, PendingCall):
                return PendingStep(kind="join", action={}, calls=[screened], join_record=record)
            validated = screened
        if needs_approval(spec, validated):
            call = pending_call(spec, validated, step=run.step, index=index, kind="approval")
            return PendingStep(kind="join", action={}, calls=[call], join_record=record)
        run.state.budgets.hops += 1
        key = call_key(run, spec, validated, index)
        outcome = await caller(spec.name, validated, run.info, deadline=run.deadline, key=key)
        if outcome.pause is not None:
            call = _input_call(spec, validated, run.step, index, outcome)
            return PendingStep(kind="join", action={}, calls=[call], join_record=record)
        record.update(outcome_record(outcome))
        return record


def _input_call(
    spec: NodeSpec, args: BaseModel, step: int, index: int, outcome: ToolOutcome
) -> PendingCall:
    reason, payload = outcome.pause or ("await_input", None)
    return pending_call(
        spec, args, step=step, index=index, kind="input", reason=reason, payload=payload
    )


def record_tool_step(state: RunState, record: dict[str, Any], outcome: ToolOutcome) -> StepResult:
    """Add a finished single-tool step to the trajectory."""
    state.add_step(
        "tool",
        record,
        outcome.result if outcome.ok else None,
        outcome.error,
        outcome.latency_ms,
        failure=outcome.failure,
    )
    if not outcome.ok and outcome.error:
        state.errors.append(outcome.error)
    if outcome.deadline:
        return BudgetHit("deadline_s", outcome.error or "the deadline passed during a tool call")
    return None


def outcome_record(outcome: ToolOutcome) -> dict[str, Any]:
    """The branch record of a finished call."""
    if outcome.ok:
        return {"ok": True, "result": outcome.result}
    record: dict[str, Any] = {"ok": False, "error": outcome.error}
    if outcome.failure is not None:
        record["failure"] = outcome.failure
    if outcome.deadline:
        record["deadline"] = True
    return record


def _parallel_error(failures: list[dict[str, Any]], join: dict[str, Any] | None) -> str | None:
    problems = [f"{f['node']}: {f.get('error')}" for f in failures]
    if join is not None and join.get("skipped"):
        problems.append(f"join {join['node']!r} skipped ({join['reason']})")
    elif join is not None and not join.get("ok"):
        problems.append(f"join {join['node']}: {join.get('error')}")
    return "; ".join(problems) or None
