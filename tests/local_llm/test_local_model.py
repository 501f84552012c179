"""The example agent against a real model: JSON actions, and native calls of a forced tool.

A small model's decisions are not judged here (the summary table reports them); what
must hold is the plumbing: the strict schema reaches the server, every reply is read
(no format fallback, no reply given up on as unreadable), tool calls are valid and run,
and every run ends within its step budget.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest
from llm_support import MODEL, OUTCOMES, Outcome

from penguiflow.planner.errors import LLMError
from penguiflow.planner.events import PlannerEvent
from penguiflow.planner.llm import allow_model_requests
from penguiflow.planner.run_state import PlannerFinish

pytestmark = pytest.mark.local_llm

MAX_ITERS = 2  # a call, then the answer (or not): enough to see both
QUESTIONS = [
    ("What is 17*23?", "calculate"),
    ("What is the capital of France?", "capital"),
    ("What is 120/8?", "calculate"),
]


async def ask(
    example: ModuleType, server: str, mode: str, question: str, **options: Any
) -> tuple[PlannerFinish | None, list[PlannerEvent], Outcome]:
    events: list[PlannerEvent] = []
    agent = example.build_agent(
        MODEL, api_base=server, tool_mode=mode, max_iters=MAX_ITERS, max_retries=0, **options
    )
    agent.on_event = events.append
    started = time.monotonic()
    result: PlannerFinish | None = None
    with allow_model_requests():
        async with agent:
            try:
                outcome = await agent.run(question)
            except LLMError as exc:
                ended = f"{type(exc).__name__}: {exc.message[:120]}"
            else:
                assert isinstance(outcome, PlannerFinish)
                result, ended = outcome, outcome.reason
    calls = [e for e in events if e.event_type == "tool_call_start"]
    accepted = [e for e in events if e.event_type == "tool_call_result"]
    prompts = [e.extra["usage"]["prompt_tokens"] for e in events if e.event_type == "llm_response"]
    answer = ""
    if result is not None and result.payload is not None:
        answer = result.payload.raw_answer if result.reason == "answer_complete" else ""
    row = Outcome(
        mode,
        question,
        ended,
        len(calls),
        len(accepted),
        answer[:60],
        time.monotonic() - started,
        prompts,
    )
    OUTCOMES.append(row)
    return result, events, row


@pytest.mark.parametrize(("question", "tool"), QUESTIONS)
async def test_json_mode_sends_the_strict_schema_and_reads_every_reply(
    example: ModuleType, server: str, question: str, tool: str
) -> None:
    result, events, row = await ask(example, server, "json", question)
    assert result is not None, row.ended
    usage = result.metadata["usage"]
    assert usage["formats"] == {"strict": usage["calls"]}  # no fallback, nothing weakened
    assert result.metadata["repairs"]["exhausted"] == 0
    assert result.metadata["budgets"]["iterations"] <= MAX_ITERS
    calls = [s for s in result.metadata["steps"] if s["kind"] in ("tool", "invalid_args")]
    assert calls and all(s["kind"] == "tool" for s in calls)  # every call schema-valid
    assert all(e.extra.get("finish_reason") != "length" for e in events)


@pytest.mark.parametrize(("question", "tool"), QUESTIONS)
async def test_native_mode_makes_a_valid_call_of_the_forced_tool(
    example: ModuleType, server: str, question: str, tool: str
) -> None:
    # not streamed: a server error then arrives as an error, not as an empty stream
    _, events, row = await ask(
        example, server, "native", question, tool_choice=tool, stream_final_response=False
    )
    starts = [e for e in events if e.event_type == "tool_call_start"]
    assert starts and starts[0].node_name == tool and row.calls >= 1
    requests = [e for e in events if e.event_type == "llm_request"]
    assert requests[0].extra["format"] == "native"
