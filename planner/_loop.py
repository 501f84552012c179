"""The step loop: decide, act, record, until the run finishes or pauses.

Before each decision the loop checks ``max_iters`` and ``deadline_s``. A decision that
calls tools becomes a recorded step (its LLM usage attached, a ``step_complete`` event
reported); one that must wait for a human becomes a pause; a final answer ends the run.
"""

from __future__ import annotations

import time

from ._answers import finish_early, finish_run
from ._approval import PendingStep
from ._deciding import Decider
from ._hitl import HitlStore
from ._native import Decided
from ._steps import ActiveRun, BudgetHit, StepResult, StepRunner
from .pause import PlannerPause
from .run_state import PlannerFinish

__all__ = ["StepLoop"]


class StepLoop:
    """Advances runs one step at a time (immutable; one per planner).

    Args:
        decider: gets each step's decision.
        steps: runs the tool calls of a decision.
        hitl: commits pauses.
        max_iters: most decisions per run.
        deadline_s: wall time per run, or ``None``.
    """

    def __init__(
        self,
        decider: Decider,
        steps: StepRunner,
        hitl: HitlStore,
        *,
        max_iters: int,
        deadline_s: float | None,
    ) -> None:
        self._decider = decider
        self._steps = steps
        self._hitl = hitl
        self._max_iters = max_iters
        self._deadline_s = deadline_s

    async def drive(self, run: ActiveRun, result: StepResult) -> PlannerFinish | PlannerPause:
        """Drive ``run`` (after the step that produced ``result``) to its end or a pause."""
        state = run.state
        while True:
            if result is not None:
                if isinstance(result, PendingStep):
                    return await self._hitl.pause(run, result)
                return await finish_early(run, result)
            hit = self._gate(run)
            if hit is not None:
                return await finish_early(run, hit)
            state.budgets.iterations += 1
            run.info.step = state.budgets.iterations
            run.usage_mark = state.usage.mark()
            if run.callback is not None:
                await run.event("step_start")
            decided = await self._decider.decide(run)
            if not isinstance(decided, Decided):
                if isinstance(decided, BudgetHit):
                    return await finish_early(run, decided)
                return await finish_run(run, decided.reason, decided.payload, decided.metadata)
            first = len(state.steps)
            kind = decided.kind
            if kind == "final":
                await run.close_step(first, kind)
                return await finish_run(
                    run, "answer_complete", decided.payload, {"thought": decided.action.thought}
                )
            if kind == "tool":
                result = await self._steps.run_tool(run, decided.action, decided.call_ids)
            else:
                result = await self._steps.run_parallel(run, decided.action, decided.call_ids)
            if isinstance(result, PendingStep):
                result.usage = run.step_usage()  # given to the step on resume
            elif run.callback is None:
                run.attach_usage(first)
            else:
                await run.close_step(first, kind)

    def _gate(self, run: ActiveRun) -> BudgetHit | None:
        # elapsed_s is recorded when the run stops (finish, pause), not at every step
        if run.state.budgets.iterations >= self._max_iters:
            return BudgetHit("max_iters", f"max_iters={self._max_iters} decisions made")
        if run.deadline is not None and run.deadline <= time.monotonic():
            return BudgetHit("deadline_s", f"deadline_s={self._deadline_s} passed")
        return None
