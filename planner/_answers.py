"""Building answers: the final payload, partial results, answer streaming, run endings."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Generator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ._active import ActiveRun, ArgFailureLimit, BudgetHit
from .actions import FinalAnswerArgs
from .llm_types import StreamCallback
from .parse import AnswerStreamExtractor, describe_validation_error
from .prompts import digest_step
from .run_state import FinalPayload, FinishReason, PlannerFinish, RunState
from .schema import strip_optional_nulls

__all__ = [
    "ChunkRelay",
    "TextStreamer",
    "answer_streamer",
    "final_payload",
    "finish_early",
    "finish_run",
    "finish_stopped",
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


class ChunkRelay:
    """The ``on_stream_chunk`` given to a client: works whether the client awaits it or not.

    Calling it queues the chunk and returns an awaitable that delivers the queued chunks.
    A client that awaits the callback's result (as ``deliver_chunk`` does) streams live;
    one that calls it as a plain function and ignores the result gets its chunks
    delivered by :meth:`drain` once its reply is complete. Nothing is lost either way,
    and an ignored result raises no "never awaited" warning (it is not a coroutine).

    Args:
        target: the planner's async chunk handler.
    """

    __slots__ = ("_queue", "_target")

    def __init__(self, target: StreamCallback) -> None:
        self._target = target
        self._queue: deque[tuple[str, bool]] = deque()

    def __call__(self, text: str, done: bool) -> _Delivery:
        self._queue.append((text, done))
        return _Delivery(self)

    async def drain(self) -> None:
        """Deliver every queued chunk, in order."""
        queue = self._queue
        while queue:
            text, done = queue.popleft()
            result = self._target(text, done)
            if result is not None:
                await result


class _Delivery:
    """What :class:`ChunkRelay` returns: awaiting it delivers the queued chunks."""

    __slots__ = ("_relay",)

    def __init__(self, relay: ChunkRelay) -> None:
        self._relay = relay

    def __await__(self) -> Generator[Any, None, None]:
        return self._relay.drain().__await__()


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
    state = run.state
    metadata = state.metadata()
    metadata.update({k: v for k, v in extra.items() if v is not None})
    last = last_observation(state)
    if reason != "answer_complete" and last is not None:
        metadata["last_observation"] = last
    budget = extra.get("budget")
    reflection = state.extensions.get("reflection")
    metadata.update(
        reason=reason,
        cost={
            "total_cost_usd": round(state.usage.cost_usd, 6),
            "main_llm_calls": state.usage.calls - _reflection_calls(reflection),
            "reflection_llm_calls": _reflection_calls(reflection),
            "summarizer_llm_calls": 0,
        },
        constraints=run.constraints(budget if isinstance(budget, str) else None),
        answer_action_seq=state.budgets.iterations,
    )
    if run.callback is not None:
        await run.event(
            "finish",
            extra={
                "reason": reason,
                **{k: v for k, v in extra.items() if isinstance(v, str)},
                "usage": state.usage.to_dict(),
                "cost": metadata["cost"],
                "answer_action_seq": state.budgets.iterations,
            },
        )
    return PlannerFinish(reason=reason, payload=payload, metadata=metadata)


def _reflection_calls(record: Any) -> int:
    calls = record.get("calls") if isinstance(record, dict) else None
    return calls if isinstance(calls, int) else 0


async def finish_stopped(run: ActiveRun) -> PlannerFinish:
    """End a run a guardrail stopped: ``no_path``, its user message as the answer."""
    report = dict(run.stopped or {})
    message = str(report.pop("user_message", "I'm unable to complete that request."))
    error = f"stopped by guardrail {report.get('rule_id')!r}: {report.get('reason')}"
    run.state.errors.append(error)
    payload = FinalPayload(raw_answer=message, partial=True)
    return await finish_run(run, "no_path", payload, {"guardrail": report, "error": error})


async def finish_early(run: ActiveRun, stop: BudgetHit | ArgFailureLimit) -> PlannerFinish:
    """End the run early, with the best partial answer.

    ``max_iters`` and repeated bad arguments end it with ``no_path``; the other budgets
    (``hop_budget``, ``deadline_s``, ``token_budget``) with ``budget_exhausted``.
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
    # Out of decisions, the run found no path to an answer; the other budgets ran out.
    reason: FinishReason = "no_path" if stop.budget == "max_iters" else "budget_exhausted"
    extra = {"budget": stop.budget, "error": stop.detail}
    if reason == "no_path":
        extra["thought"] = "iteration limit reached"
    return await finish_run(run, reason, payload, extra)
