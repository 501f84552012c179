"""One decision of a run: ask the LLM, parse, repair locally, retry with the error.

The repair ladder: a reply that is not a valid action is first fixed locally (no LLM
call); otherwise the LLM is asked again with the precise validation error, up to
``repair_attempts`` times; then the run finishes with ``no_path``. The raw text is never
used as an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from ._answers import final_payload, partial_payload
from ._asking import ask_llm
from ._steps import ActiveRun, BudgetHit
from .actions import ActionKind, PlannerAction
from .llm_types import LLMClient
from .parse import describe_validation_error, parse_action
from .repair import NO_OBJECT, repair_instruction, repair_locally
from .run_state import FinalPayload, PlannerFinish
from .schema import ActionSchemas, FormatMemory
from .tokens import TokenAccountant

__all__ = ["Decider"]

_ECHO_LIMIT = 2000

Decision = tuple[PlannerAction, ActionKind, FinalPayload | None] | PlannerFinish | BudgetHit
"""``(action, its kind, the final payload of a final action)``, or how the run ends."""


class Decider:
    """Gets one valid action per step for a planner (immutable; shared by all runs)."""

    def __init__(
        self,
        *,
        client: LLMClient,
        formats: FormatMemory,
        schemas: ActionSchemas,
        tokens: TokenAccountant,
        format_cost: Callable[[str], int],
        model_key: str,
        stream: bool,
        known: frozenset[str],
        tool_names: list[str],
        has_tools: bool,
        final_model: type[BaseModel] | None,
        final_schema: dict[str, Any],
        repair_attempts: int,
    ) -> None:
        self._client = client
        self._formats = formats
        self._schemas = schemas
        self._tokens = tokens
        self._format_cost = format_cost
        self._model_key = model_key
        self._stream = stream
        self._known = known
        self._tool_names = tool_names
        self._has_tools = has_tools
        self._final_model = final_model
        self._final_schema = final_schema
        self._repair_attempts = repair_attempts

    async def decide(self, run: ActiveRun) -> Decision:
        """Get one valid action: ask, parse, repair locally, then retry with the error."""
        state = run.state
        counting = run.transcript.counter is not None
        extra: list[dict[str, Any]] = []
        attempt = 0
        while True:
            limit = self._tokens.limit
            built = run.transcript.build(
                state,
                token_budget=limit.tokens,
                extra=extra,
                fixed_tokens=(
                    self._format_cost(self._formats.mode_for(self._model_key)) if counting else 0
                ),
            )
            if built is None:
                return BudgetHit(
                    limit.budget,
                    f"{limit.describe()} cannot hold the system prompt, memory, query "
                    "and summary of earlier steps",
                )
            reply = await ask_llm(
                run,
                *built,
                client=self._client,
                formats=self._formats,
                schemas=self._schemas,
                model_key=self._model_key,
                stream=self._stream,
            )
            if isinstance(reply, BudgetHit):
                return reply
            outcome = parse_action(reply)
            error = outcome.error
            if outcome.action is None:
                repaired = repair_locally(reply, known_nodes=self._known)
                if repaired.action is not None:
                    state.repairs.local_repairs += 1
                    for fix in repaired.fixes:
                        state.repairs.fixes[fix] = state.repairs.fixes.get(fix, 0) + 1
                    await run.event(
                        "repair_attempt", extra={"stage": "local", "fixes": repaired.fixes}
                    )
                    outcome = repaired
                elif repaired.error != NO_OBJECT:
                    error = repaired.error
            action = outcome.action
            if action is not None:
                kind = action.kind
                if kind == "tool":
                    return action, kind, None
                checked = self.check(action)
                if not isinstance(checked, str):
                    return action, kind, checked
                error = checked
            error = error or "the reply is not a valid action"
            if attempt >= self._repair_attempts:
                state.repairs.exhausted += 1
                message = f"no valid action after {attempt} repair attempt(s): {error}"
                state.errors.append(message)
                return PlannerFinish(
                    reason="no_path",
                    payload=partial_payload(state, "the model gave no valid action"),
                    metadata={"error": message},
                )
            attempt += 1
            state.repairs.llm_repairs += 1
            await run.event(
                "repair_attempt", error=error, extra={"stage": "llm", "attempt": attempt}
            )
            echo = reply if len(reply) <= _ECHO_LIMIT else reply[:_ECHO_LIMIT] + "..."
            extra = [
                {"role": "assistant", "content": echo},
                {
                    "role": "user",
                    "content": repair_instruction(error, valid_nodes=self._tool_names),
                },
            ]

    def check(self, action: PlannerAction) -> FinalPayload | str | None:
        """Validate what the repair ladder covers: final args and the parallel shape."""
        if action.kind == "final":
            return final_payload(action.args, self._final_model, self._final_schema)
        if action.kind == "parallel":
            if not self._has_tools:
                return (
                    "there are no tools, so 'parallel' cannot be used; answer with final_response"
                )
            try:
                action.parallel_args()
            except ValidationError as exc:
                return f"invalid parallel plan: {describe_validation_error(exc, prefix='args.')}"
        return None
