"""Planner events, final-answer streaming and the response_format fallback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from planner_helpers import PlannerFactory, act, final, json_only

from penguiflow.planner.errors import LLMResponseFormatError
from penguiflow.planner.events import PlannerEvent, emit_event, make_event


async def test_event_sequence_of_a_run(make_planner: PlannerFactory, tool_mode: str) -> None:
    events: list[PlannerEvent] = []
    # JSON mode: the answer comes in a code fence, which the local repair removes
    answer = "```" + final() + "```" if tool_mode == "json" else final()
    planner, _ = make_planner(
        [act("search", {"text": "a"}), answer],
        event_callback=events.append,
        token_budget=100_000,
    )
    result = await planner.run("q", run_id="r9")
    repair = ["repair_attempt"] if tool_mode == "json" else []
    assert [e.event_type for e in events] == [
        "step_start",
        "llm_request",
        "llm_response",
        "tool_call_start",
        "tool_call_result",
        "tool_call_end",
        "step_complete",
        "step_start",
        "llm_request",
        "llm_response",
        *repair,
        "step_complete",
        "finish",
    ]
    assert {e.run_id for e in events} == {"r9"}
    assert {e.step for e in events[:7]} == {1} and {e.step for e in events[7:]} == {2}
    call = events[4]
    assert call.node_name == "search" and call.trace_id and call.latency_ms is not None
    assert events[1].extra["format"] == ("strict" if tool_mode == "json" else "native")
    assert events[1].extra["tokens"] > 0
    assert events[-1].extra["reason"] == "answer_complete"
    assert events[6].extra == {"kind": "tool", "usage": result.metadata["steps"][0]["usage"]}
    assert events[-1].extra["usage"] == result.metadata["usage"]
    assert result.metadata["budgets"]["tokens_sent"] == sum(
        e.extra["tokens"] for e in events if e.event_type == "llm_request"
    )
    assert isinstance(events[0].to_dict()["ts"], float)


async def test_async_callback_and_failing_callback(
    make_planner: PlannerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def callback(event: PlannerEvent) -> None:
        seen.append(event.event_type)
        if event.event_type == "llm_request":
            raise RuntimeError("observer bug")

    planner, _ = make_planner([final("fine")], event_callback=callback)
    with caplog.at_level(logging.ERROR, logger="penguiflow.planner"):
        result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert seen[-1] == "finish"
    assert "event_callback failed on llm_request" in caplog.text


async def test_emit_event_without_callback_is_a_noop() -> None:
    await emit_event(None, make_event("finish", step=0, run_id="r"))


async def test_final_answer_streams_as_chunks(make_planner: PlannerFactory) -> None:
    events: list[PlannerEvent] = []
    answer = 'Penguins "live" in the south\n— mostly.'
    planner, _ = make_planner(
        [act("search", {"text": "a"}, thought=""), final(answer)],
        event_callback=events.append,
        stream_final_response=True,
    )
    result = await planner.run("q")
    chunks = [e for e in events if e.event_type == "stream_chunk"]
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == answer == result.payload.raw_answer
    assert chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert {c.extra["source"] for c in chunks} == {"llm"}


@json_only
async def test_rejected_schema_falls_back_and_is_remembered(make_planner: PlannerFactory) -> None:
    rejection = LLMResponseFormatError("json_schema not supported", model="m", status_code=400)
    planner, llm = make_planner([rejection, final("one"), final("two")])
    first = await planner.run("q1")
    second = await planner.run("q2")
    assert first.reason == second.reason == "answer_complete"
    formats: list[Any] = [r.response_format for r in llm.requests]
    assert formats[0]["json_schema"]["strict"] is True
    assert formats[1]["json_schema"]["strict"] is False
    assert formats[2] is formats[1]  # remembered for the model
    assert first.metadata["repairs"]["format_fallbacks"] == 1
    assert second.metadata["repairs"]["format_fallbacks"] == 0
    assert planner.response_format is formats[1]


@json_only
async def test_every_format_rejected_raises(make_planner: PlannerFactory) -> None:
    rejection = LLMResponseFormatError("no formats at all", model="m", status_code=400)
    planner, llm = make_planner([rejection] * 4)
    with pytest.raises(LLMResponseFormatError):
        await planner.run("q")
    assert [r.response_format and r.response_format["type"] for r in llm.requests] == [
        "json_schema",
        "json_schema",
        "json_object",
        None,
    ]


@json_only
async def test_json_schema_mode_off_asks_for_json_object(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([final()], json_schema_mode=False)
    await planner.run("q")
    assert llm.requests[0].response_format == {"type": "json_object"}
