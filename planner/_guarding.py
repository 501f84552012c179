"""Guardrails in a run: the query, each tool call and result, and the answer are checked.

:class:`Guard` turns a gateway's decisions into what the run does (see
``penguiflow.planner.guardrails`` for the rules' side). What must survive a pause (how
many retries each rule used, its strikes) lives in ``RunState.extensions["guardrails"]``.
A ``STOP`` anywhere is recorded on the :class:`ActiveRun` (``run.stopped``) and the step
loop ends the run with ``no_path``. ``PAUSE`` holds a tool call for approval; on the
query, a result or the answer there is nothing to approve, so it stops the run (fail
closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ._executor import OutcomeGuard, ToolOutcome
from .guardrails import (
    ANSWER,
    QUERY,
    TOOL_CALL,
    TOOL_RESULT,
    GuardrailAction,
    GuardrailContext,
    GuardrailDecision,
    GuardrailEvent,
    GuardrailGateway,
)
from .guardrails.gateway import apply_redactions, event_text
from .prompts import query_message
from .run_state import FinalPayload

if TYPE_CHECKING:
    from ._active import ActiveRun

__all__ = ["EXTENSION", "Allowed", "Guard", "Held", "Refused"]

EXTENSION = "guardrails"
"""The ``RunState.extensions`` entry with a run's guardrail retries and strikes."""


@dataclass(frozen=True, slots=True)
class Allowed:
    """The call may run, with these (possibly redacted) arguments."""

    args: dict[str, Any] | None = None  # None: unchanged


@dataclass(frozen=True, slots=True)
class Refused:
    """The call must not run; the model is told ``error`` (a ``RETRY``)."""

    error: str


@dataclass(frozen=True, slots=True)
class Held:
    """The call waits for a human's approval (a ``PAUSE``)."""

    reason: str
    payload: dict[str, Any]


CallVerdict = Allowed | Refused | Held | None
"""What to do with a call; ``None``: the run was stopped (``run.stopped``)."""


class Guard:
    """Submits a planner's events to its gateway and acts on the decisions.

    Args:
        gateway: the rules.
    """

    def __init__(self, gateway: GuardrailGateway) -> None:
        self.gateway = gateway

    # -- evaluating -----------------------------------------------------------------------

    async def _decide(
        self, run: ActiveRun, event_type: str, text: str, **fields: Any
    ) -> GuardrailDecision | None:
        """The decision to act on, or ``None`` to let the content through unchanged."""
        state = run.state
        record = state.extensions.setdefault(EXTENSION, {"retries": {}, "strikes": {}})
        tools = run.view.tool_names
        ctx = GuardrailContext(
            run_id=state.run_id,
            tenant_id=state.tenant_id,
            tool_context=dict(run.info.tool_context)
            if isinstance(run.info.tool_context, Mapping)
            else {},
            strike_counts=record["strikes"],
            available_tools=tuple(tools),
        )
        event = GuardrailEvent(
            event_type=event_type,
            run_id=state.run_id,
            text_content=text,
            payload={"tenant_id": state.tenant_id},
            **fields,
        )
        decision = await self.gateway.evaluate(ctx, event)
        if decision.action is GuardrailAction.ALLOW:
            return None
        await run.event(
            "guardrail_decision",
            node_name=fields.get("tool_name"),
            extra={"event": event_type, **decision.report()},
        )
        if self.gateway.config.mode == "shadow":
            return None
        if decision.action is GuardrailAction.RETRY:
            used = record["retries"].get(decision.rule_id, 0) + 1
            record["retries"][decision.rule_id] = used
            limit = decision.retry.max_attempts if decision.retry is not None else 2
            if used > limit:
                self._stop(run, decision, f"retries of rule {decision.rule_id!r} used up")
                return decision
        return decision

    @staticmethod
    def _stop(run: ActiveRun, decision: GuardrailDecision, why: str | None = None) -> None:
        report = decision.report()
        report["event"] = "stop"
        if why is not None:
            report["reason"] = f"{decision.reason} ({why})"
        message = decision.stop.user_message if decision.stop is not None else None
        report["user_message"] = message or "I'm unable to complete that request."
        run.stopped = report

    @staticmethod
    def _lesson(decision: GuardrailDecision) -> str:
        text = decision.retry.corrective_message if decision.retry is not None else ""
        return f"refused by guardrail {decision.rule_id!r}: {text or decision.reason}"

    # -- the four checks -----------------------------------------------------------------

    async def check_query(self, run: ActiveRun) -> None:
        """Check the query before the run's first request; a block stops the run."""
        decision = await self._decide(run, QUERY, run.state.query)
        if decision is None or run.stopped is not None:
            return
        if decision.action is GuardrailAction.REDACT and decision.redactions:
            state = run.state
            state.query = apply_redactions(state.query, state.query, decision.redactions)
            run.transcript.replace_query(query_message(state.query, state.llm_context))
            return
        self._stop(run, decision)

    async def check_call(self, run: ActiveRun, tool: str, args: BaseModel) -> CallVerdict:
        """Check a tool call before it runs."""
        dumped = args.model_dump(mode="json")
        text = event_text(dumped)
        decision = await self._decide(run, TOOL_CALL, text, tool_name=tool, tool_args=dumped)
        if decision is None:
            return Allowed()
        if run.stopped is not None:
            return None
        action = decision.action
        if action is GuardrailAction.REDACT:
            return Allowed(apply_redactions(dumped, text, decision.redactions or ()))
        if action is GuardrailAction.RETRY:
            return Refused(self._lesson(decision))
        if action is GuardrailAction.PAUSE:
            pause = decision.pause
            prompt = pause.prompt if pause is not None and pause.prompt else decision.reason
            payload: dict[str, Any] = {"guardrail": decision.report(), "prompt": prompt}
            if pause is not None:
                payload["approver_roles"] = list(pause.approver_roles)
            return Held(f"guardrail {decision.rule_id!r}: {prompt}", payload)
        self._stop(run, decision)
        return None

    def results(self, run: ActiveRun) -> OutcomeGuard:
        """The check of the run's tool results, for the tool executor."""

        async def check(tool: str, args: BaseModel, outcome: ToolOutcome) -> ToolOutcome:
            text = event_text(outcome.result)
            decision = await self._decide(
                run,
                TOOL_RESULT,
                text,
                tool_name=tool,
                tool_args=args.model_dump(mode="json"),
            )
            if decision is None:
                return outcome
            if decision.action is GuardrailAction.REDACT:
                outcome.result = apply_redactions(outcome.result, text, decision.redactions or ())
                return outcome
            if decision.action is not GuardrailAction.RETRY and run.stopped is None:
                self._stop(run, decision)
            outcome.ok, outcome.result = False, None
            outcome.error, outcome.code = self._lesson(decision), "guardrail"
            return outcome

        return check

    async def check_answer(
        self, run: ActiveRun, payload: FinalPayload
    ) -> FinalPayload | str | None:
        """Check the answer: the answer to give, the lesson of a ``RETRY``, or ``None`` (stopped)."""
        decision = await self._decide(run, ANSWER, payload.raw_answer)
        if decision is None:
            return payload
        if run.stopped is not None:
            return None
        if decision.action is GuardrailAction.REDACT:
            answer = apply_redactions(
                payload.raw_answer, payload.raw_answer, decision.redactions or ()
            )
            return payload.model_copy(update={"raw_answer": answer})
        if decision.action is GuardrailAction.RETRY:
            return f"Your answer was not accepted ({self._lesson(decision)}). Answer again."
        self._stop(run, decision)
        return None
