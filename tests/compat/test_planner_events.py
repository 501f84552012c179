"""Documented planner events, metadata, budgets and finish reasons, in both tool modes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from planner_compat_support import Answer, Question, action, build_tools, planner

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.catalog import build_catalog
from penguiflow.planner import PlannerEvent


@tool(desc="Always fails")
async def flaky(args: Question, ctx: Any) -> Answer:
    raise ConnectionError(f"backend down for {args.question}")


def _with_flaky() -> list[Any]:
    registry = ModelRegistry()
    registry.register("flaky", Question, Answer)
    node = Node(flaky, name="flaky", policy=NodePolicy(max_retries=0))
    return [*build_tools(), *build_catalog([node], registry)]


async def test_events_and_metadata_of_a_run(tool_mode: str) -> None:
    events: list[PlannerEvent] = []
    replies = [action("search_docs", {"question": "q"}), action("final_response", {"answer": "A"})]
    async with planner(replies, tool_mode, event_callback=events.append) as agent:
        result = await agent.run("What do the docs say?")
    kinds = [e.event_type for e in events]
    for expected in ("step_start", "tool_call_start", "tool_call_end", "step_complete", "finish"):
        assert expected in kinds
    assert kinds.index("tool_call_start") < kinds.index("tool_call_end")
    starts = [e for e in events if e.event_type == "step_start"]
    assert [e.extra["action_seq"] for e in starts] == [1, 2]
    start = next(e for e in events if e.event_type == "tool_call_start")
    assert start.extra["tool_name"] == "search_docs"
    assert json.loads(start.extra["args_json"]) == {"question": "q"}
    end = next(e for e in events if e.event_type == "tool_call_end")
    assert end.extra["tool_call_id"] == start.extra["tool_call_id"]
    assert end.node_name == "search_docs" and end.extra["ok"] is True
    done = events[-1]
    assert done.event_type == "finish" and done.extra["answer_action_seq"] == 2
    assert done.trajectory_step == done.step == 2
    payload = done.to_payload()
    assert payload["event"] == "finish" and payload["step"] == 2
    assert payload["reason"] == "answer_complete"

    metadata = result.metadata
    assert metadata["reason"] == "answer_complete" and metadata["answer_action_seq"] == 2
    assert metadata["steps"][0]["observation"] == {"answer": "docs say: q"}
    assert metadata["steps"][0]["failure"] is None
    assert metadata["cost"] == {
        "total_cost_usd": 0.0,
        "main_llm_calls": 2,
        "reflection_llm_calls": 0,
        "summarizer_llm_calls": 0,
    }
    assert metadata["constraints"]["hops_used"] == 1
    assert metadata["constraints"]["deadline_triggered"] is False


async def test_a_failing_tool_records_its_failure(tool_mode: str) -> None:
    replies = [action("flaky", {"question": "x"}), action("final_response", {"answer": "sorry"})]
    async with planner(replies, tool_mode, catalog=_with_flaky()) as agent:
        result = await agent.run("Try the flaky tool")
    step = result.metadata["steps"][0]
    assert step["error"] and "backend down" in step["error"]
    assert step["failure"]["node"] == "flaky"
    assert step["failure"]["error_code"] == "ConnectionError"
    assert step["failure"]["args"] == {"question": "x"}


async def test_max_iters_ends_with_no_path(tool_mode: str) -> None:
    replies = [action("search_docs", {"question": str(i)}) for i in range(2)]
    async with planner(replies, tool_mode, max_iters=2) as agent:
        result = await agent.run("Loop forever")
    assert result.reason == "no_path"
    assert result.metadata["budget"] == "max_iters"
    assert result.metadata["thought"] == "iteration limit reached"


async def test_hop_budget_ends_with_budget_exhausted(tool_mode: str) -> None:
    replies = [action("search_docs", {"question": str(i)}) for i in range(3)]
    async with planner(replies, tool_mode, hop_budget=1) as agent:
        result = await agent.run("Search twice")
    assert result.reason == "budget_exhausted"
    assert result.metadata["constraints"]["hop_exhausted"] is True


async def test_time_source_drives_the_deadline(tool_mode: str) -> None:
    ticks = itertools.count(0.0, 10.0)  # every reading of the clock is 10 s later
    replies = [action("search_docs", {"question": str(i)}) for i in range(5)]
    async with planner(replies, tool_mode, deadline_s=25.0, time_source=lambda: next(ticks)) as p:
        result = await p.run("Search until the deadline")
    assert result.reason == "budget_exhausted" and result.metadata["budget"] == "deadline_s"
    assert result.metadata["constraints"]["deadline_triggered"] is True
    assert 1 <= len(result.metadata["steps"]) < 5


async def test_absolute_max_parallel_refuses_a_bigger_plan(tool_mode: str) -> None:
    steps = [{"node": "search_docs", "args": {"question": str(i)}} for i in range(3)]
    replies = [
        action("parallel", {"steps": steps}),
        action("parallel", {"steps": steps[:2]}),
        action("final_response", {"answer": "two were enough"}),
    ]
    async with planner(replies, tool_mode, absolute_max_parallel=2) as agent:
        result = await agent.run("Search three things")
    first, second = result.metadata["steps"]
    assert first["kind"] == "rejected" and "absolute_max_parallel" in first["error"]
    assert second["kind"] == "parallel" and second["observation"]["success_count"] == 2
    assert result.reason == "answer_complete"


async def test_context_meta_is_the_old_name_of_llm_context(tool_mode: str) -> None:
    replies = [action("final_response", {"answer": "A"})]
    async with planner(replies, tool_mode) as agent:
        with pytest.warns(DeprecationWarning, match="use llm_context"):
            await agent.run("Hi", context_meta={"user_tier": "gold"})
        sent = str(agent.llm_client.requests[0].messages)
    assert "gold" in sent


@tool(desc="Reports progress while it works")
async def long_job(args: Question, ctx: Any) -> Answer:
    await ctx.emit_chunk("progress", 0, "half way")  # the documented (stream_id, seq, text)
    await ctx.emit_chunk("done soon")
    return Answer(answer="finished")


async def test_tools_stream_progress_chunks(tool_mode: str) -> None:
    registry = ModelRegistry()
    registry.register("long_job", Question, Answer)
    catalog = build_catalog([Node(long_job, name="long_job")], registry)
    events: list[PlannerEvent] = []
    replies = [action("long_job", {"question": "go"}), action("final_response", {"answer": "ok"})]
    async with planner(replies, tool_mode, catalog=catalog, event_callback=events.append) as p:
        await p.run("Run the job")
    chunks = [e for e in events if e.event_type == "stream_chunk"]
    assert [c.text for c in chunks] == ["half way", "done soon"]
    assert chunks[0].extra["stream_id"] == "progress" and chunks[0].extra["seq"] == 0
