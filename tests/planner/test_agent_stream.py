"""``agent.stream(...)``: events as they happen, the result last, cancellation ends the run."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest
from planner_helpers import act, final

from penguiflow import Agent, PlannerFinish, PlannerPause
from penguiflow.planner import PlannerEvent, ScriptedLLM
from penguiflow.planner.errors import LLMUnavailableError


async def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city} is nice"


class Gate:
    """A tool that waits until released, and records whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def wait_here(self, city: str) -> str:
        """Wait for the gate."""
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return city


async def collect(agent: Agent, query: str, **options: Any) -> list[Any]:
    return [item async for item in agent.stream(query, **options)]


async def test_events_come_as_they_happen_and_the_result_comes_last() -> None:
    llm = ScriptedLLM([act("lookup", {"city": "Rome"}), final("Rome is nice, they say.")])
    async with Agent(llm_client=llm, tools=[lookup]) as agent:
        items = await collect(agent, "Tell me about Rome")
    *events, result = items
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert all(isinstance(e, PlannerEvent) for e in events)
    kinds = [e.event_type for e in events]
    assert kinds.index("tool_call_start") < kinds.index("tool_call_result") < kinds.index("finish")
    assert kinds[-1] == "finish"
    answer = [e for e in events if e.event_type == "stream_chunk" and e.extra["source"] == "llm"]
    assert "".join(e.text or "" for e in answer) == "Rome is nice, they say."
    assert {e.run_id for e in events} == {result.metadata["run_id"]}


async def test_leaving_the_loop_early_cancels_the_run() -> None:
    gate = Gate()
    llm = ScriptedLLM([act("wait_here", {"city": "Oslo"}), final("never")])
    async with Agent(llm_client=llm, tools=[gate.wait_here]) as agent:
        async with aclosing(agent.stream("go")) as items:
            async for item in items:
                if isinstance(item, PlannerEvent) and item.event_type == "tool_call_start":
                    await gate.started.wait()
                    break
        assert gate.cancelled
        assert len(llm.requests) == 1  # the run asked nothing more
        llm2 = ScriptedLLM([final("still works")])
        with agent.override(llm=llm2):
            again = await agent.run("and now?")
    assert isinstance(again, PlannerFinish) and again.reason == "answer_complete"


async def test_cancelling_the_reader_cancels_the_run() -> None:
    gate = Gate()
    llm = ScriptedLLM([act("wait_here", {"city": "Oslo"}), final("never")])
    async with Agent(llm_client=llm, tools=[gate.wait_here]) as agent:

        async def read() -> None:
            async for _ in agent.stream("go"):
                pass

        reader = asyncio.create_task(read())
        await gate.started.wait()
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert gate.cancelled


async def test_a_failing_run_raises_from_the_stream_after_its_events() -> None:
    failure = LLMUnavailableError("provider down", model="m", attempts=1)
    llm = ScriptedLLM([act("lookup", {"city": "Rome"}), failure])
    seen: list[str] = []
    async with Agent(llm_client=llm, tools=[lookup]) as agent:
        with pytest.raises(LLMUnavailableError, match="provider down"):
            async for item in agent.stream("go"):
                seen.append(item.event_type)
    assert "tool_call_result" in seen


async def test_concurrent_streams_get_only_their_own_events() -> None:
    async with Agent("test", tools=[lookup]) as agent:
        first, second = await asyncio.gather(collect(agent, "one"), collect(agent, "two"))
    for items in (first, second):
        *events, result = items
        assert {e.run_id for e in events} == {result.metadata["run_id"]}
    assert first[-1].metadata["run_id"] != second[-1].metadata["run_id"]


async def test_on_event_still_sees_every_event_while_streaming() -> None:
    seen: list[PlannerEvent] = []

    async def on_event(event: PlannerEvent) -> None:
        seen.append(event)

    async with Agent("test", tools=[lookup]) as agent:
        agent.on_event = on_event
        items = await collect(agent, "hello", run_id="r-7")
    assert [e for e in items if isinstance(e, PlannerEvent)] == seen
    assert isinstance(items[-1], PlannerFinish | PlannerPause)
    assert items[-1].metadata["run_id"] == "r-7"
