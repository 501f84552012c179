"""The step loop: decide, act, record, until the run finishes or pauses.

Before each decision the loop checks ``max_iters`` and ``deadline_s``. A decision that
calls tools becomes a recorded step (its LLM usage attached, a ``step_complete`` event
reported); one that must wait for a human becomes a pause; a final answer is reviewed
(reflection, then the guardrails) and ends the run, or goes back to the model when a
guardrail asks for another answer. A guardrail's ``STOP`` ends the run with ``no_path``.
"""

from __future__ import annotations

from ._active import ActiveRun, BudgetHit, StepResult
from ._answers import finish_early, finish_run, finish_stopped
from ._approval import PendingStep
from ._deciding import Decider
from ._guarding import Guard
from ._hitl import HitlStore
from ._native import Decided
from ._reflecting import Reflector
from ._steps import StepRunner
from .pause import PlannerPause
from .run_state import FinalPayload, PlannerFinish

__all__ = ["StepLoop"]


class StepLoop:
    """Advances runs one step at a time (immutable; one per planner and tool view).

    Args:
        decider: gets each step's decision.
        steps: runs the tool calls of a decision.
        hitl: commits pauses.
        max_iters: most decisions per run.
        deadline_s: wall time per run, or ``None``.
        guard: the guardrails, if any.
        reflector: reviews answers, when reflection is enabled.
    """

    def __init__(
        self,
        decider: Decider,
        steps: StepRunner,
        hitl: HitlStore,
        *,
        max_iters: int,
        deadline_s: float | None,
        guard: Guard | None = None,
        reflector: Reflector | None = None,
    ) -> None:
        self._decider = decider
        self._steps = steps
        self._hitl = hitl
        self._max_iters = max_iters
        self._deadline_s = deadline_s
        self._guard = guard
        self._reflector = reflector

    async def drive(self, run: ActiveRun, result: StepResult) -> PlannerFinish | PlannerPause:
        """Drive ``run`` (after the step that produced ``result``) to its end or a pause."""
        state = run.state
        if self._guard is not None and state.budgets.iterations == 0 and result is None:
            await self._guard.check_query(run)
        while True:
            if run.stopped is not None:
                return await finish_stopped(run)
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
                await run.event("step_start", extra={"action_seq": state.budgets.iterations})
            decided = await self._decider.decide(run)
            if not isinstance(decided, Decided):
                if isinstance(decided, BudgetHit):
                    return await finish_early(run, decided)
                return await finish_run(run, decided.reason, decided.payload, decided.metadata)
            first = len(state.steps)
            kind = decided.kind
            if kind == "final":
                await run.close_step(first, kind)
                ended = await self._answer(run, decided)
                if ended is not None:
                    return ended
                continue
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

    async def _answer(self, run: ActiveRun, decided: Decided) -> PlannerFinish | None:
        """Review the answer and finish with it; ``None`` when the model must answer again."""
        payload = decided.payload
        assert payload is not None
        extra: dict[str, object] = {"thought": decided.action.thought}
        if self._reflector is not None and self._reflector.config.enabled:
            payload, extra["reflection"] = await self._reflector.review(run, payload)
        if self._guard is not None:
            checked: FinalPayload | str | None = await self._guard.check_answer(run, payload)
            if checked is None:
                return await finish_stopped(run)
            if isinstance(checked, str):
                run.notes.append({"role": "user", "content": checked})
                return None
            payload = checked
        return await finish_run(run, "answer_complete", payload, extra)

    def _gate(self, run: ActiveRun) -> BudgetHit | None:
        # elapsed_s is recorded when the run stops (finish, pause), not at every step
        if run.state.budgets.iterations >= self._max_iters:
            return BudgetHit("max_iters", f"max_iters={self._max_iters} decisions made")
        if run.deadline_passed():
            return BudgetHit("deadline_s", f"deadline_s={self._deadline_s} passed")
        return None
