"""Building answers: the final payload, partial results, answer streaming, run endings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ._steps import ActiveRun, ArgFailureLimit, BudgetHit
from .actions import FinalAnswerArgs
from .llm_types import StreamCallback
from .parse import AnswerStreamExtractor, describe_validation_error
from .prompts import digest_step
from .run_state import FinalPayload, FinishReason, PlannerFinish, RunState
from .schema import strip_optional_nulls

__all__ = [
    "TextStreamer",
    "answer_streamer",
    "final_payload",
    "finish_early",
    "finish_run",
    "last_observation",
    "partial_payload",
]


# A template slot copied from instructions: "<the answer>", "ANSWER", "...".
_PLACEHOLDER = re.compile(r"\s*(<[^<>]{0,80}>|ANSWER|\.\.\.|…)\s*")


def final_payload(
    args: Mapping[str, Any], model: type[BaseModel] | None, schema: dict[str, Any]
) -> FinalPayload | str:
    """Validate final ``args``; return the payload or the error for the repair ladder.

    An ``answer`` that is only a template slot (``<the answer>``, ``ANSWER``, ``...``)
    is refused: a model copying its instructions has not answered.
    """
    data = dict(args)
    if "answer" not in data and isinstance(data.get("raw_answer"), str):
        data["answer"] = data.pop("raw_answer")
    answer = data.get("answer")
    if isinstance(answer, str) and _PLACEHOLDER.fullmatch(answer):
        return (
            f"invalid final_response: args.answer is {answer!r}, a placeholder copied "
            "from the instructions; write the actual answer"
        )
    target = model or FinalAnswerArgs
    try:
        parsed = target.model_validate(data)
    except ValidationError as exc:
        try:
            parsed = target.model_validate(strip_optional_nulls(data, schema))
        except ValidationError:
            detail = describe_validation_error(exc, prefix="args.")
            return f"invalid final_response: {detail}"
    if isinstance(parsed, FinalAnswerArgs):
        return FinalPayload(
            raw_answer=parsed.answer, sources=parsed.sources, confidence=parsed.confidence
        )
    answer = getattr(parsed, "answer", None)
    confidence = data.get("confidence")
    sources = data.get("sources")
    return FinalPayload(
        raw_answer=answer if isinstance(answer, str) else parsed.model_dump_json(),
        structured=parsed,
        sources=sources if isinstance(sources, list) else None,
        confidence=float(confidence)
        if isinstance(confidence, int | float) and 0 <= confidence <= 1
        else None,
    )


def answer_streamer(run: ActiveRun) -> StreamCallback:
    """Return an ``on_stream_chunk`` that streams the reply's ``answer`` text as events."""
    extractor = AnswerStreamExtractor()
    sent = False

    async def on_chunk(text: str, done: bool) -> None:
        nonlocal sent
        piece = extractor.feed(text) if text else ""
        if piece:
            sent = True
            await run.event("stream_chunk", text=piece, extra={"source": "llm"})
        if done and sent:
            await run.event("stream_chunk", text="", done=True, extra={"source": "llm"})

    return on_chunk


class TextStreamer:
    """Streams the text of a native reply as ``stream_chunk`` events.

    The closing chunk (``done=True``) is sent by :meth:`finish` once the reply is read:
    its ``extra["answer"]`` says whether the text was the answer (``False`` when the
    reply ended with tool calls, the text being what the model wrote beside them).
    """

    __slots__ = ("_run", "_sent")

    def __init__(self, run: ActiveRun) -> None:
        self._run = run
        self._sent = False

    async def __call__(self, text: str, done: bool) -> None:
        if text:
            self._sent = True
            await self._run.event("stream_chunk", text=text, extra={"source": "llm"})

    async def finish(self, *, answer: bool) -> None:
        """Send the closing chunk, if any text was streamed."""
        if self._sent:
            self._sent = False
            await self._run.event(
                "stream_chunk", text="", done=True, extra={"source": "llm", "answer": answer}
            )


def last_observation(state: RunState) -> Any:
    for step in reversed(state.steps):
        if step.error is None and step.observation is not None:
            return step.observation
    return None


def partial_payload(state: RunState, why: str) -> FinalPayload:
    """The best partial information of an unfinished run."""
    text = f"The run stopped before completing an answer: {why}."
    recent = [digest_step(step) for step in state.steps[-3:]]
    if recent:
        text += " Latest steps:\n" + "\n".join(recent)
    return FinalPayload(raw_answer=text, partial=True)


async def finish_run(
    run: ActiveRun,
    reason: FinishReason,
    payload: FinalPayload | None,
    extra: Mapping[str, Any],
) -> PlannerFinish:
    """End the run: report the ``finish`` event and build the :class:`PlannerFinish`."""
    run.sync_elapsed()
    metadata = run.state.metadata()
    metadata.update({k: v for k, v in extra.items() if v is not None})
    last = last_observation(run.state)
    if reason != "answer_complete" and last is not None:
        metadata["last_observation"] = last
    if run.callback is not None:
        await run.event(
            "finish",
            extra={
                "reason": reason,
                **{k: v for k, v in extra.items() if isinstance(v, str)},
                "usage": run.state.usage.to_dict(),
            },
        )
    return PlannerFinish(reason=reason, payload=payload, metadata=metadata)


async def finish_early(run: ActiveRun, stop: BudgetHit | ArgFailureLimit) -> PlannerFinish:
    """End the run early, with the best partial answer.

    A budget hit ends it with ``budget_exhausted``, repeated bad arguments with ``no_path``.
    """
    state = run.state
    if isinstance(stop, ArgFailureLimit):
        error = (
            f"tool {stop.tool!r} failed argument validation {stop.count} times in "
            f"a row: {stop.error}"
        )
        state.errors.append(error)
        partial = partial_payload(state, "the model kept sending invalid arguments")
        return await finish_run(run, "no_path", partial, {"error": error})
    state.errors.append(f"budget exhausted: {stop.detail}")
    payload = partial_payload(state, f"{stop.budget} ran out: {stop.detail}")
    return await finish_run(
        run, "budget_exhausted", payload, {"budget": stop.budget, "error": stop.detail}
    )
