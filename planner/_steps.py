"""Acting on a decided action: one tool call, or a parallel plan with its join.

Problems the LLM can fix become observations in the trajectory (unknown tool, bad
arguments, failed branches); only budget hits and repeated argument failures end the
run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec
from ._context import Transcript
from ._executor import CallInfo, ToolExecutor, ToolOutcome
from .actions import PlannerAction
from .events import EventCallback, emit_event, make_event
from .parse import describe_validation_error
from .prompts import PlanningHints
from .run_state import RunState
from .schema import strip_optional_nulls

__all__ = ["ActiveRun", "BudgetHit", "StepRunner", "validate_args"]


@dataclass(slots=True)
class ActiveRun:
    """A run being advanced in this process: the state plus what cannot be serialised."""

    state: RunState
    transcript: Transcript
    info: CallInfo
    limiter: asyncio.Semaphore
    callback: EventCallback | None
    deadline: float | None  # time.monotonic() deadline
    started: float  # time.monotonic() when this process took the run
    elapsed_before: float  # elapsed_s recorded before this process took the run

    @property
    def step(self) -> int:
        """The current step number."""
        return self.state.budgets.iterations

    async def event(self, event_type: str, **fields: Any) -> None:
        """Report a planner event for this run (no-op without a callback)."""
        if self.callback is not None:
            event = make_event(event_type, step=self.step, run_id=self.state.run_id, **fields)
            await emit_event(self.callback, event)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def sync_elapsed(self) -> None:
        """Record the time spent so far in ``state.budgets.elapsed_s``."""
        self.state.budgets.elapsed_s = self.elapsed_before + (time.monotonic() - self.started)


@dataclass(frozen=True, slots=True)
class BudgetHit:
    """A budget ran out while acting; the planner turns it into ``budget_exhausted``."""

    budget: str
    detail: str


@dataclass(frozen=True, slots=True)
class ArgFailureLimit:
    """The same tool failed argument validation too many times in a row."""

    tool: str
    count: int
    error: str


StepResult = BudgetHit | ArgFailureLimit | None


def validate_args(spec: NodeSpec, args: Mapping[str, Any]) -> BaseModel | str:
    """Validate ``args`` for ``spec``; return the model or an error for the LLM.

    A ``null`` sent for an optional argument (as the strict schema allows) is dropped
    before a second attempt, so the tool's default applies.
    """
    try:
        return spec.args_model.model_validate(args)
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
    ) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._executor = executor
        self._hop_budget = hop_budget
        self._disallowed = frozenset(hints.disallow_nodes) if hints else frozenset()
        self._sequential = frozenset(hints.sequential_only) if hints else frozenset()
        self._max_arg_failures = max_arg_failures
        self._valid_names = ", ".join(sorted(n for n in self._specs if n not in self._disallowed))

    # -- shared checks ------------------------------------------------------------------

    def _resolve(self, name: str, *, parallel: bool) -> NodeSpec | str:
        """Return the spec of ``name`` or the error the LLM should see."""
        if name in self._disallowed:
            return f"tool {name!r} may not be called (planning hints); valid tools: {self._valid_names}"
        spec = self._specs.get(name)
        if spec is None:
            return (
                f"unknown tool {name!r}; valid tools: {self._valid_names or '(none)'}; "
                "use next_node 'final_response' to answer"
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

    # -- single tool --------------------------------------------------------------------

    async def run_tool(self, run: ActiveRun, action: PlannerAction) -> StepResult:
        """Run a single tool call and record the step."""
        state = run.state
        record = action.record()
        spec = self._resolve(action.next_node, parallel=False)
        if isinstance(spec, str):
            state.repairs.unknown_tool += action.next_node not in self._specs
            kind = "unknown_tool" if action.next_node not in self._specs else "rejected"
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
        state.budgets.hops += 1
        outcome = await self._executor.call(spec.name, args, run.info, deadline=run.deadline)
        state.add_step(
            kind="tool",
            action=record,
            observation=outcome.result if outcome.ok else None,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
        )
        if not outcome.ok and outcome.error:
            state.errors.append(outcome.error)
        if outcome.deadline:
            return BudgetHit(
                "deadline_s", outcome.error or "the deadline passed during a tool call"
            )
        return None

    # -- parallel plans -----------------------------------------------------------------

    async def run_parallel(self, run: ActiveRun, action: PlannerAction) -> StepResult:
        """Run the branches of a parallel plan (bounded by ``max_parallel``), then the join."""
        state = run.state
        plan = action.parallel_args()
        records: list[dict[str, Any]] = []
        runnable: list[tuple[int, str, BaseModel]] = []
        for branch in plan.steps:
            record: dict[str, Any] = {"node": branch.node, "args": branch.args}
            records.append(record)
            spec = self._resolve(branch.node, parallel=True)
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
        state.budgets.hops += len(runnable)
        started = time.perf_counter()
        outcomes = await self._executor.call_many(
            [(name, args) for _, name, args in runnable],
            run.info,
            deadline=run.deadline,
            limiter=run.limiter,
        )
        deadline_hit = False
        for (index, _, _), outcome in zip(runnable, outcomes, strict=True):
            records[index].update(_outcome_record(outcome))
            deadline_hit = deadline_hit or outcome.deadline
        failures = [r for r in records if not r.get("ok")]
        join_record: dict[str, Any] | None = None
        if plan.join is not None and not deadline_hit:
            if failures:
                join_record = {
                    "node": plan.join.node,
                    "skipped": True,
                    "reason": f"{len(failures)} of {len(records)} branch(es) failed",
                }
            else:
                join_record, hit = await self._join(
                    run, plan.join.node, plan.join.args, plan.join.inject, records
                )
                if hit is not None:
                    return hit
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
            action=action.record(),
            observation=observation,
            error=error,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        if deadline_hit or (join_record is not None and join_record.get("deadline")):
            return BudgetHit("deadline_s", "the deadline passed during a parallel step")
        return None

    async def _join(
        self,
        run: ActiveRun,
        node: str,
        fixed_args: dict[str, Any],
        inject: dict[str, str],
        records: list[dict[str, Any]],
    ) -> tuple[dict[str, Any], BudgetHit | None]:
        record: dict[str, Any] = {"node": node}
        spec = self._resolve(node, parallel=False)
        if isinstance(spec, str):
            record.update(ok=False, error=spec)
            return record, None
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
            return record, None
        left = self._hops_left(run.state)
        if left is not None and left < 1:
            return record, BudgetHit("hop_budget", f"no hop left for the join {node!r}")
        run.state.budgets.hops += 1
        outcome = await self._executor.call(spec.name, validated, run.info, deadline=run.deadline)
        record.update(_outcome_record(outcome))
        return record, None


def _outcome_record(outcome: ToolOutcome) -> dict[str, Any]:
    if outcome.ok:
        return {"ok": True, "result": outcome.result}
    record: dict[str, Any] = {"ok": False, "error": outcome.error}
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
