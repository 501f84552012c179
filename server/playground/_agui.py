"""The agent in the AG-UI protocol, so an AG-UI chat front-end can drive it.

``POST /api/ag-ui`` takes a ``RunAgentInput`` and answers with a stream of AG-UI events
(``ag-ui-protocol``'s own models and encoder), beside the playground's own event stream:

=========================  ===========================================================
planner                    AG-UI
=========================  ===========================================================
run starts                 ``RUN_STARTED`` (``threadId`` is the session)
``step_start``             ``STEP_FINISHED`` of the previous step, ``STEP_STARTED``,
                           ``STATE_SNAPSHOT`` (step, tool calls so far, status)
``tool_call_start``        ``TOOL_CALL_START``, ``TOOL_CALL_ARGS``, ``TOOL_CALL_END``
``tool_call_result/error``  ``TOOL_CALL_RESULT`` (the result, or ``{"error": ...}``)
streamed answer            ``TEXT_MESSAGE_START``, ``TEXT_MESSAGE_CONTENT``...,
                           ``TEXT_MESSAGE_END`` (the whole answer if it was not streamed)
finish                     ``STATE_SNAPSHOT``, ``RUN_FINISHED`` with the answer and usage
pause                      the pending calls as tool calls, then ``RUN_FINISHED`` with an
                           ``interrupt`` outcome: one interrupt per pending call
failure                    ``RUN_ERROR``
=========================  ===========================================================

An interrupt's id is ``"<pause_id>:<call_id>"``. To decide it, post a new input whose
``resume`` entries answer the interrupts: ``status: "resolved"`` with ``payload``
``{"approved": true}`` (optionally ``"args": {...}`` to run it with edited arguments,
or ``"approved": false, "reason": "..."``); ``{"input": ...}`` answers an input request;
``status: "cancelled"`` rejects the call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ag_ui.core import (
    BaseEvent,
    Interrupt,
    ResumeEntry,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response, StreamingResponse

from .._runs import RunHandle, follow_events
from ._service import DecisionRefused, Playground

__all__ = [
    "AguiTranslator",
    "agui_stream",
    "decision_from_resume",
    "query_from_input",
    "refused_stream",
    "serve_agui",
]

_THREAD = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(getattr(part, "text", "") or "") for part in content)
    return ""


def query_from_input(run_input: RunAgentInput) -> str:
    """The text of the last user message of ``run_input`` (``""`` when there is none)."""
    for message in reversed(run_input.messages):
        if getattr(message, "role", None) == "user":
            return _text(getattr(message, "content", "")).strip()
    return ""


def decision_from_resume(entries: Sequence[ResumeEntry]) -> tuple[str, dict[str, Any]]:
    """The pause the resume entries answer, and the decision (``resume`` keyword arguments).

    Raises:
        ValueError: the entries name no pause or several, or a malformed interrupt id.
    """
    pauses: set[str] = set()
    approvals: dict[str, bool | str] = {}
    edited: dict[str, Any] = {}
    decision: dict[str, Any] = {}
    for entry in entries:
        pause_id, sep, call_id = entry.interrupt_id.rpartition(":")
        if not sep or not pause_id or not call_id:
            raise ValueError(
                f"interrupt id {entry.interrupt_id!r} is not '<pause_id>:<call_id>'; answer "
                "the ids of the RUN_FINISHED interrupt outcome"
            )
        pauses.add(pause_id)
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        reason = payload.get("reason")
        if entry.status == "cancelled" or payload.get("approved", True) is False:
            approvals[call_id] = str(reason) if reason else False
        elif "input" in payload:
            decision["user_input"] = payload["input"]
        else:
            approvals[call_id] = True
            if isinstance(payload.get("args"), dict):
                edited[call_id] = payload["args"]
    if len(pauses) != 1:
        raise ValueError("the resume entries must answer the interrupts of exactly one run")
    if approvals:
        decision["approvals"] = approvals
    if edited:
        decision["edited_args"] = edited
    return pauses.pop(), decision


class AguiTranslator:
    """Turns one run's planner events into AG-UI events.

    Args:
        thread_id: the AG-UI thread (the session).
        run_id: the AG-UI run id.
        model: the model name reported with token usage.
    """

    def __init__(self, thread_id: str, run_id: str, *, model: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self._model = model
        self._step: int | None = None
        self._message_id: str | None = None
        self._answered = False
        self._calls: dict[str, dict[str, Any]] = {}
        self._refused = 0

    def started(self) -> list[BaseEvent]:
        """The opening event."""
        return [RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, timestamp=_now_ms())]

    def _snapshot(self, status: str) -> StateSnapshotEvent:
        return StateSnapshotEvent(
            snapshot={
                "run_id": self.run_id,
                "status": status,
                "step": self._step,
                "tool_calls": list(self._calls.values()),
            },
            timestamp=_now_ms(),
        )

    def _close_step(self) -> list[BaseEvent]:
        if self._step is None:
            return []
        return [StepFinishedEvent(step_name=f"step {self._step}", timestamp=_now_ms())]

    def _tool_call(self, call_id: str, name: str, args: Any) -> list[BaseEvent]:
        self._calls[call_id] = {"id": call_id, "tool": name, "args": args, "status": "running"}
        return [
            ToolCallStartEvent(tool_call_id=call_id, tool_call_name=name, timestamp=_now_ms()),
            ToolCallArgsEvent(tool_call_id=call_id, delta=json.dumps(args or {})),
            ToolCallEndEvent(tool_call_id=call_id),
        ]

    def _tool_result(self, call_id: str, content: Any, status: str) -> ToolCallResultEvent:
        if call_id in self._calls:
            self._calls[call_id]["status"] = status
        return ToolCallResultEvent(
            message_id=f"{call_id}-result",
            tool_call_id=call_id,
            content=json.dumps(content, default=str),
            role="tool",
            timestamp=_now_ms(),
        )

    def event(self, kind: str, data: dict[str, Any]) -> list[BaseEvent]:
        """The AG-UI events for one planner event."""
        extra = data.get("extra") or {}
        if kind == "step_start":
            events = self._close_step()
            self._step = int(data.get("step") or 0)
            events.append(StepStartedEvent(step_name=f"step {self._step}", timestamp=_now_ms()))
            events.append(self._snapshot("running"))
            return events
        if kind == "tool_call_start":
            return self._tool_call(
                str(data.get("trace_id")), str(data.get("node_name")), extra.get("args")
            )
        if kind == "tool_call_result":
            return [self._tool_result(str(data.get("trace_id")), extra.get("result"), "ok")]
        if kind == "tool_call_error":
            return self._tool_error(data, extra)
        if kind == "stream_chunk" and extra.get("source") == "llm":
            return self._answer_chunk(str(data.get("text") or ""), bool(data.get("done")))
        return []

    def _tool_error(self, data: dict[str, Any], extra: dict[str, Any]) -> list[BaseEvent]:
        call_id = data.get("trace_id")
        events: list[BaseEvent] = []
        if call_id is None and extra.get("call_id"):
            call_id = f"{data.get('run_id')}:{extra['call_id']}"
        if call_id is None:
            self._refused += 1
            call_id = f"{self.run_id}-refused-{self._refused}"
            events.extend(self._tool_call(call_id, str(data.get("node_name")), None))
        status = "rejected" if extra.get("code") == "rejected_by_reviewer" else "error"
        events.append(self._tool_result(str(call_id), {"error": data.get("error")}, status))
        return events

    def _answer_chunk(self, text: str, done: bool) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        if self._message_id is None and (text or done):
            self._message_id = f"{self.run_id}-answer"
            events.append(
                TextMessageStartEvent(
                    message_id=self._message_id, role="assistant", timestamp=_now_ms()
                )
            )
        if text and self._message_id is not None:
            events.append(TextMessageContentEvent(message_id=self._message_id, delta=text))
        if done and self._message_id is not None:
            events.append(TextMessageEndEvent(message_id=self._message_id))
            self._answered = True
        return events

    def ended(self, handle: RunHandle) -> list[BaseEvent]:
        """The closing events, from the run's record."""
        events = self._close_step()
        result = handle.result or {}
        if handle.status == "finished":
            events.extend(self._finished(result))
        elif handle.status == "paused":
            events.extend(self._interrupted(result))
        else:
            error = handle.error or {}
            events.append(
                RunErrorEvent(
                    message=str(error.get("message") or f"the run was {handle.status}"),
                    code=str(error.get("type") or handle.status),
                    timestamp=_now_ms(),
                )
            )
        return events

    def _finished(self, result: dict[str, Any]) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        answer = result.get("answer") or ""
        if not self._answered and answer:
            events.extend(self._answer_chunk(answer, False))
            events.extend(self._answer_chunk("", True))
        elif self._message_id is not None and not self._answered:
            events.extend(self._answer_chunk("", True))
        events.append(self._snapshot("finished"))
        usage = result.get("usage") or {}
        tokens = None
        if usage.get("total_tokens"):
            tokens = [
                TokenUsage(
                    model=self._model,
                    input_tokens=usage.get("prompt_tokens"),
                    output_tokens=usage.get("completion_tokens"),
                    total_tokens=usage.get("total_tokens"),
                )
            ]
        events.append(
            RunFinishedEvent(
                thread_id=self.thread_id,
                run_id=self.run_id,
                result={"answer": answer, "reason": result.get("reason")},
                outcome=RunFinishedSuccessOutcome(),
                usage=tokens,
                timestamp=_now_ms(),
            )
        )
        return events

    def _interrupted(self, result: dict[str, Any]) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        pause_id = str(result.get("pause_id"))
        interrupts = []
        for call in result.get("pending_calls") or []:
            call_id = f"{result.get('run_id')}:{call['call_id']}"
            if call.get("kind") == "approval":
                events.extend(self._tool_call(call_id, str(call["tool"]), call.get("args")))
                self._calls[call_id]["status"] = "pending"
            interrupts.append(
                Interrupt(
                    id=f"{pause_id}:{call['call_id']}",
                    reason=str(call.get("reason") or result.get("reason") or "approval_required"),
                    message=f"{call.get('kind')} needed for {call.get('tool')}",
                    tool_call_id=call_id if call.get("kind") == "approval" else None,
                    expires_at=result.get("expires_at"),
                    metadata={"tool": call.get("tool"), "args": call.get("args")},
                )
            )
        events.append(self._snapshot("paused"))
        events.append(
            RunFinishedEvent(
                thread_id=self.thread_id,
                run_id=self.run_id,
                outcome=RunFinishedInterruptOutcome(interrupts=interrupts),
                timestamp=_now_ms(),
            )
        )
        return events


async def agui_stream(
    handle: RunHandle, translator: AguiTranslator, *, keepalive_s: float
) -> AsyncIterator[str]:
    """The AG-UI event stream of a run (Server-Sent Events text)."""
    encoder = EventEncoder()
    for event in translator.started():
        yield encoder.encode(event)
    async for item in follow_events(handle, after=-1, keepalive_s=keepalive_s):
        if item is None:
            yield ": keepalive\n\n"
            continue
        for event in translator.event(item[1], item[2]):
            yield encoder.encode(event)
    for event in translator.ended(handle):
        yield encoder.encode(event)


def refused_stream(thread_id: str, run_id: str, message: str, code: str) -> AsyncIterator[str]:
    """A stream for a run that could not start: ``RUN_STARTED`` then ``RUN_ERROR``."""

    async def stream() -> AsyncIterator[str]:
        encoder = EventEncoder()
        yield encoder.encode(RunStartedEvent(thread_id=thread_id, run_id=run_id))
        yield encoder.encode(RunErrorEvent(message=message, code=code))

    return stream()


def _invalid(detail: str, **extra: Any) -> Response:
    return JSONResponse({"detail": detail, **extra}, status_code=422)


async def serve_agui(playground: Playground, body: bytes) -> Response:
    """Answer one AG-UI request: a new run, or the resume of a paused one."""
    try:
        run_input = RunAgentInput.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        return _invalid("the body is not an AG-UI RunAgentInput", errors=errors)
    thread = run_input.thread_id
    if not _THREAD.match(thread):
        return _invalid("threadId must be 1-64 letters, digits or . _ : - (it names the session)")
    translator = AguiTranslator(thread, run_input.run_id, model=playground.agent.model)
    media_type = EventEncoder().get_content_type()
    if run_input.resume:
        try:
            pause_id, decision = decision_from_resume(run_input.resume)
        except ValueError as exc:
            return _invalid(str(exc))
        try:
            handle = await playground.decide(
                pause_id, decision, token=None, client="an AG-UI client"
            )
        except DecisionRefused as exc:
            code = "pause_already_decided" if exc.status_code == 409 else f"http_{exc.status_code}"
            winner = exc.extra.get("winner")
            message = (
                exc.detail if winner is None else f"{exc.detail}: {json.dumps(winner, default=str)}"
            )
            stream = refused_stream(thread, run_input.run_id, message, code)
            return StreamingResponse(stream, media_type=media_type)
    else:
        query = query_from_input(run_input)
        if not query:
            return _invalid("the input has no user message to answer (messages[].role == 'user')")
        handle = playground.start_run(query, session_id=thread)
    stream = agui_stream(handle, translator, keepalive_s=playground.keepalive_s)
    return StreamingResponse(stream, media_type=media_type, headers={"Cache-Control": "no-cache"})
