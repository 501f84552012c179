"""The AG-UI stream, parsed back into the ``ag-ui-protocol`` package's own event models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ag_ui.core import (
    Event,
    EventType,
    ResumeEntry,
    RunAgentInput,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    StateSnapshotEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
    UserMessage,
)
from playground_agent import CALLS, TOKEN, serve
from pydantic import TypeAdapter

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVENTS: TypeAdapter[Any] = TypeAdapter(Event)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("agui")) as url:
        yield url


def run_input(thread: str, text: str | None = None, **fields: Any) -> dict[str, Any]:
    messages = [UserMessage(id="m1", content=text)] if text is not None else []
    value = RunAgentInput(
        thread_id=thread,
        run_id=f"ag-{thread}",
        state={},
        messages=messages,
        tools=[],
        context=[],
        forwarded_props={},
        **fields,
    )
    return json.loads(value.model_dump_json(by_alias=True))


def stream(base_url: str, body: dict[str, Any]) -> list[Any]:
    events = []
    with httpx.stream("POST", f"{base_url}/api/ag-ui", json=body, headers=AUTH, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(EVENTS.validate_json(line[6:]))
    return events


def types(events: list[Any]) -> list[EventType]:
    return [e.type for e in events]


def test_a_run_streams_tool_calls_text_state_and_finish(base_url: str) -> None:
    CALLS.clear()
    events = stream(base_url, run_input("agui-1", "weather in Lima"))
    kinds = types(events)
    assert kinds[0] is EventType.RUN_STARTED and kinds[-1] is EventType.RUN_FINISHED
    assert events[0].thread_id == "agui-1" and events[0].run_id == "ag-agui-1"
    order = [
        EventType.STEP_STARTED,
        EventType.TOOL_CALL_START,
        EventType.TOOL_CALL_ARGS,
        EventType.TOOL_CALL_END,
        EventType.TOOL_CALL_RESULT,
        EventType.STEP_FINISHED,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
    ]
    positions = [kinds.index(kind) for kind in order]
    assert positions == sorted(positions)
    start = next(e for e in events if isinstance(e, ToolCallStartEvent))
    args = next(e for e in events if e.type is EventType.TOOL_CALL_ARGS)
    result = next(e for e in events if isinstance(e, ToolCallResultEvent))
    assert start.tool_call_name == "lookup" and json.loads(args.delta) == {"city": "Lima"}
    assert result.tool_call_id == start.tool_call_id
    assert json.loads(str(result.content))["forecast"] == "sunny"
    text = "".join(e.delta for e in events if e.type is EventType.TEXT_MESSAGE_CONTENT)
    assert text == "It is sunny in Lima."
    snapshots = [e for e in events if isinstance(e, StateSnapshotEvent)]
    assert snapshots[-1].snapshot["status"] == "finished"
    finished = events[-1]
    assert isinstance(finished, RunFinishedEvent)
    assert finished.result["answer"] == "It is sunny in Lima."
    assert finished.usage and finished.usage[0].total_tokens == 300
    assert CALLS["lookup"] == 1


def test_a_pause_is_an_interrupt_and_a_resume_entry_answers_it(base_url: str) -> None:
    CALLS.clear()
    events = stream(base_url, run_input("agui-2", "announce agui"))
    finished = events[-1]
    assert isinstance(finished, RunFinishedEvent)
    assert isinstance(finished.outcome, RunFinishedInterruptOutcome)
    (interrupt,) = finished.outcome.interrupts
    assert interrupt.reason == "approval_required"
    assert interrupt.metadata == {
        "tool": "post_announcement",
        "args": {"text": "agui", "priority": 1},
    }
    pending = [e for e in events if isinstance(e, ToolCallStartEvent)]
    assert pending[-1].tool_call_id == interrupt.tool_call_id
    assert CALLS["post_announcement"] == 0

    entry = ResumeEntry(
        interrupt_id=interrupt.id,
        status="resolved",
        payload={"approved": True, "args": {"text": "edited by agui", "priority": 2}},
    )
    resumed = stream(base_url, run_input("agui-2", None, resume=[entry]))
    assert types(resumed)[0] is EventType.RUN_STARTED
    result = next(e for e in resumed if isinstance(e, ToolCallResultEvent))
    assert json.loads(str(result.content)) == {"posted": "edited by agui", "priority": 2}
    assert resumed[-1].result["answer"] == "Posted: edited by agui (priority 2)"
    assert CALLS["post_announcement"] == 1

    again = stream(base_url, run_input("agui-2", None, resume=[entry]))
    assert types(again) == [EventType.RUN_STARTED, EventType.RUN_ERROR]
    assert again[-1].code == "pause_already_decided"
    assert CALLS["post_announcement"] == 1


def test_a_cancelled_interrupt_rejects_the_call(base_url: str) -> None:
    CALLS.clear()
    events = stream(base_url, run_input("agui-3", "announce never"))
    (interrupt,) = events[-1].outcome.interrupts
    entry = ResumeEntry(interrupt_id=interrupt.id, status="cancelled", payload={"reason": "no"})
    resumed = stream(base_url, run_input("agui-3", None, resume=[entry]))
    rejected = next(e for e in resumed if isinstance(e, ToolCallResultEvent))
    assert rejected.tool_call_id == interrupt.tool_call_id
    assert "rejected by the reviewer: no" in json.loads(str(rejected.content))["error"]
    assert CALLS["post_announcement"] == 0


def test_bad_inputs_are_refused_before_any_run(base_url: str) -> None:
    post = lambda body: httpx.post(f"{base_url}/api/ag-ui", json=body, headers=AUTH)  # noqa: E731
    assert post({"threadId": "t"}).status_code == 422
    assert post(run_input("agui-4")).status_code == 422  # no user message
    assert post(run_input("bad thread id!", "hi")).status_code == 422
    unknown = ResumeEntry(interrupt_id="no-colon", status="resolved")
    assert post(run_input("agui-4", None, resume=[unknown])).status_code == 422
    assert httpx.post(f"{base_url}/api/ag-ui", json=run_input("agui-4", "hi")).status_code == 401
