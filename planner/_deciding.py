"""One decision of a run: ask the LLM, read the reply, repair locally, retry with the error.

The repair ladder: a reply that is not a valid decision is first fixed locally (no LLM
call); otherwise the LLM is asked again with the precise problem, up to
``repair_attempts`` times; then the run finishes with ``no_path``. The raw text is never
used as an answer. In JSON mode the reply must be one JSON action; in native mode it is
read by :func:`~penguiflow.planner._native.read_tool_reply`, and a problem with a tool
call goes back as that call's result. A reply cut off at the token limit
(``finish_reason == "length"``) that cannot be used whole is not sent back whole: the
model sees its start and is asked for a shorter reply, since the same request would
be cut off again. A reply over the planner's
:class:`~penguiflow.planner._bounded_json.ReplyLimits` is a problem too: it is never
decoded, whatever it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ._active import ActiveRun, BudgetHit
from ._answers import final_payload, partial_payload
from ._asking import Asker, ask_llm
from ._bounded_json import ReplyLimits, clean_text
from ._context import Dialect
from ._native import Decided, Rejected, ToolNames, read_tool_reply
from .actions import PlannerAction
from .llm_types import LLMResponse, as_response
from .parse import describe_validation_error, parse_action
from .repair import NO_OBJECT, repair_instruction, repair_locally
from .run_state import FinalPayload, PlannerFinish
from .schema import FormatMode
from .tokens import TokenAccountant

__all__ = ["Decider", "Decision"]

_ECHO_LIMIT = 2000
_CUT_ECHO = 200
CUT_OFF = (
    "the reply was cut off at the token limit (finish_reason 'length') before it was "
    "complete; if this repeats, raise the client's max_tokens or lower max_string_length"
)
_SHORTER_JSON = (
    "Your previous reply was cut off at the token limit before it was complete. Write a "
    "shorter reply: one complete JSON object and nothing else, with a thought of one "
    "short sentence and short strings."
)
_SHORTER_NATIVE = (
    "Your previous reply was cut off at the token limit before it was complete. Call "
    "a tool with short arguments, or give a shorter answer."
)

Decision = Decided | PlannerFinish | BudgetHit
"""A valid decision, or how the run ends."""


class Decider:
    """Gets one valid decision per step for a planner (immutable; shared by all runs)."""

    def __init__(
        self,
        *,
        asker: Asker,
        dialects: Mapping[bool, Dialect],
        names: ToolNames,
        tokens: TokenAccountant,
        format_cost: Callable[[FormatMode], int],
        known: frozenset[str],
        tool_names: list[str],
        has_tools: bool,
        final_model: type[BaseModel] | None,
        final_schema: dict[str, Any],
        repair_attempts: int,
        limits: ReplyLimits,
    ) -> None:
        self._asker = asker
        self._dialects = dialects
        self._names = names
        self._tokens = tokens
        self._format_cost = format_cost
        self._known = known
        self._tool_names = tool_names
        self._has_tools = has_tools
        self._final_model = final_model
        self._final_schema = final_schema
        self._repair_attempts = repair_attempts
        self._limits = limits

    async def decide(self, run: ActiveRun) -> Decision:
        """Get one valid decision: ask, read, repair locally, then retry with the error."""
        state = run.state
        transcript = run.transcript
        asker = self._asker
        extra: list[dict[str, Any]] = run.notes  # what the model must hear first (guardrails)
        run.notes = []
        attempt = 0
        while True:
            mode = asker.formats.mode_for(asker.model_key)
            dialect = self._dialects[mode == "native"]
            if dialect is not transcript.dialect:
                transcript.use(dialect)
                extra = []  # a repair written for the other dialect
            limit = self._tokens.limit
            built = transcript.build(
                state,
                token_budget=limit.tokens,
                extra=extra,
                fixed_tokens=self._format_cost(mode) if transcript.counter is not None else 0,
            )
            if built is None:
                return BudgetHit(
                    limit.budget,
                    f"{limit.describe()} cannot hold the system prompt, memory, query "
                    "and summary of earlier steps",
                )
            reply = await ask_llm(run, *built, mode, asker)
            if reply is None:
                continue  # the provider refused the mode; write the request again
            if isinstance(reply, BudgetHit):
                return reply
            if dialect.native:
                reading = read_tool_reply(
                    as_response(reply),
                    final_tool=self._final_model is not None,
                    check=self.check_final,
                    names=self._names,
                    limits=self._limits,
                )
            else:
                reading = self._read_json(reply if isinstance(reply, str) else reply.text)
            if isinstance(reply, LLMResponse) and reply.cut_off:
                reading = _unless_cut_off(reading, reply.text, native=dialect.native)
            if isinstance(reading, Decided):
                if reading.fixes:
                    await _local_repair(run, reading.fixes)
                return reading
            if attempt >= self._repair_attempts:
                return _exhausted(run, attempt, reading.error)
            attempt += 1
            state.repairs.llm_repairs += 1
            await run.event(
                "repair_attempt", error=reading.error, extra={"stage": "llm", "attempt": attempt}
            )
            extra = reading.echo

    def _read_json(self, text: str) -> Decided | Rejected:
        """Read a JSON-mode reply: parse, repair locally, check the final and parallel args.

        A local repair counts (``fixes``) only when the repaired action is accepted.
        """
        outcome = parse_action(text, limits=self._limits)
        error = outcome.error
        fixes: list[str] = []
        if outcome.action is None and self._limits.size_problem(len(text)) is None:
            repaired = repair_locally(text, known_nodes=self._known, limits=self._limits)
            if repaired.action is not None:
                outcome, fixes = repaired, repaired.fixes
            elif repaired.error != NO_OBJECT:
                error = repaired.error
        action = outcome.action
        if action is not None:
            kind = action.kind
            if kind == "tool":
                return Decided(action, kind, fixes=fixes)
            checked = self.check(action)
            if not isinstance(checked, str):
                return Decided(action, kind, checked, fixes=fixes)
            error = checked
        error = error or "the reply is not a valid action"
        echo = clean_text(text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "...")
        return Rejected(
            error,
            [
                {"role": "assistant", "content": echo},
                {
                    "role": "user",
                    "content": repair_instruction(error, valid_nodes=self._tool_names),
                },
            ],
        )

    def check_final(self, args: Mapping[str, Any]) -> FinalPayload | str:
        """Validate final-answer arguments: the payload, or the error for the model."""
        return final_payload(args, self._final_model, self._final_schema)

    def check(self, action: PlannerAction) -> FinalPayload | str | None:
        """Validate what the repair ladder covers: final args and the parallel shape."""
        if action.kind == "final":
            return self.check_final(action.args)
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


def _unless_cut_off(reading: Decided | Rejected, text: str, *, native: bool) -> Decided | Rejected:
    """A reply cut off at the token limit: usable only if nothing of it was lost.

    A JSON action that parsed as it came is whole, and so are tool calls whose
    arguments decoded; anything else (a rejected reply, an action pieced together by
    local repair, a text answer whose end is missing) asks for a shorter reply.
    """
    if isinstance(reading, Decided):
        if native and (reading.kind != "final" or reading.call_ids):
            return reading
        if not native and not reading.fixes:
            return reading
    # The start of the reply, so that roles still alternate (some chat templates
    # insist), but not all of it: the model would only carry on with it.
    start = text[:_CUT_ECHO].rstrip() + " [cut off]"
    return Rejected(
        CUT_OFF,
        [
            {"role": "assistant", "content": start},
            {"role": "user", "content": _SHORTER_NATIVE if native else _SHORTER_JSON},
        ],
    )


async def _local_repair(run: ActiveRun, fixes: Sequence[str]) -> None:
    repairs = run.state.repairs
    repairs.local_repairs += 1
    for fix in fixes:
        repairs.fixes[fix] = repairs.fixes.get(fix, 0) + 1
    await run.event("repair_attempt", extra={"stage": "local", "fixes": list(fixes)})


def _exhausted(run: ActiveRun, attempts: int, error: str) -> PlannerFinish:
    state = run.state
    state.repairs.exhausted += 1
    message = f"no valid action after {attempts} repair attempt(s): {error}"
    state.errors.append(message)
    return PlannerFinish(
        reason="no_path",
        payload=partial_payload(state, "the model gave no valid action"),
        metadata={"error": message},
    )
