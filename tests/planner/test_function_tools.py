"""Typed function tools running in a planner: arguments, context, threads, failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from planner_helpers import act, final
from pydantic import BaseModel

from penguiflow import NodePolicy, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner, ScriptedLLM, ToolContext


class Weather(BaseModel):
    city: str
    celsius: float


@tool(side_effects="read")
async def get_weather(city: str, unit: str = "C") -> Weather:
    """Current weather of a city."""
    return Weather(city=city, celsius=21.0 if unit == "C" else 70.0)


Factory = Callable[..., tuple[ReactPlanner, ScriptedLLM, list[PlannerEvent]]]


@pytest.fixture
async def planner_for() -> AsyncIterator[Factory]:
    planners: list[ReactPlanner] = []

    def build(tools: list[Any], replies: list[Any]) -> tuple[ReactPlanner, ScriptedLLM, list]:
        events: list[PlannerEvent] = []
        llm = ScriptedLLM(replies)
        planner = ReactPlanner(
            llm_client=llm, catalog=build_catalog(tools), event_callback=events.append
        )
        planners.append(planner)
        return planner, llm, events

    yield build
    for planner in planners:
        await planner.aclose()


def observations(result: Any) -> list[Any]:
    assert isinstance(result, PlannerFinish)
    return [(step["observation"], step["error"]) for step in result.metadata["steps"]]


async def test_a_typed_tool_gets_validated_arguments_and_its_result_is_json(
    planner_for: Factory,
) -> None:
    planner, llm, _ = planner_for(
        [get_weather],
        [act("get_weather", {"city": "Oslo", "unit": "F"}), final("cold")],
    )
    result = await planner.run("weather in Oslo?")
    assert observations(result) == [({"city": "Oslo", "celsius": 70.0}, None)]
    assert "70.0" in str(llm.requests[1].messages)


async def test_bad_arguments_go_back_to_the_model_with_the_validation_error(
    planner_for: Factory,
) -> None:
    planner, _, _ = planner_for(
        [get_weather],
        [act("get_weather", {"town": "Oslo"}), act("get_weather", {"city": "Oslo"}), final()],
    )
    result = await planner.run("weather in Oslo?")
    steps = observations(result)
    assert steps[0][1] is not None and "city" in steps[0][1]
    assert steps[1] == ({"city": "Oslo", "celsius": 21.0}, None)


async def test_a_sync_tool_runs_in_a_worker_thread(planner_for: Factory) -> None:
    threads: list[int] = []

    def measure(text: str) -> int:
        threads.append(threading.get_ident())
        return len(text)

    planner, _, _ = planner_for([measure], [act("measure", {"text": "four"}), final()])
    result = await planner.run("how long is 'four'?")
    assert observations(result) == [(4, None)]
    assert threads and threads[0] != threading.get_ident()


async def test_a_sync_tool_that_raises_is_a_tool_error_the_model_sees(
    planner_for: Factory,
) -> None:
    def explode(text: str) -> str:
        raise ValueError(f"cannot handle {text!r}")

    planner, llm, events = planner_for(
        [explode], [act("explode", {"text": "x"}), final("it failed")]
    )
    result = await planner.run("try it")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    [(observation, error)] = observations(result)
    assert observation is None and "cannot handle 'x'" in (error or "")
    assert [e.event_type for e in events if e.node_name == "explode"] == [
        "tool_call_start",
        "tool_call_error",
        "tool_call_end",
    ]
    assert "cannot handle 'x'" in str(llm.requests[1].messages)


async def test_a_tool_context_parameter_receives_the_run_context(planner_for: Factory) -> None:
    seen: dict[str, Any] = {}

    async def whoami(greeting: str, ctx: ToolContext) -> str:
        seen.update(run_id=ctx.run_id, tool=ctx.tool_name, user=ctx.tool_context["user"])
        await ctx.emit_chunk("looking")
        return f"{greeting}, {ctx.tool_context['user']}"

    planner, _, events = planner_for([whoami], [act("whoami", {"greeting": "hi"}), final()])
    result = await planner.run("who am I?", tool_context={"user": "ada"}, run_id="r-1")
    assert observations(result) == [("hi, ada", None)]
    assert seen == {"run_id": "r-1", "tool": "whoami", "user": "ada"}
    assert any(e.event_type == "stream_chunk" and e.text == "looking" for e in events)


async def test_a_sync_tool_can_read_its_context(planner_for: Factory) -> None:
    def tenant(ctx: ToolContext | None = None) -> str:
        assert ctx is not None
        return ctx.tenant_id

    planner, _, _ = planner_for([tenant], [act("tenant", {}), final()])
    result = await planner.run("which tenant?", tenant_id="acme")
    assert observations(result) == [("acme", None)]


async def test_a_tool_policy_timeout_applies(planner_for: Factory) -> None:
    release = asyncio.Event()

    @tool(policy=NodePolicy(timeout_s=0.05))
    async def stuck(x: int) -> int:
        await release.wait()
        return x

    planner, _, events = planner_for([stuck], [act("stuck", {"x": 1}), final("gave up")])
    result = await planner.run("try")
    [(_, error)] = observations(result)
    assert "timed out" in (error or "")
    [failed] = [e for e in events if e.event_type == "tool_call_error"]
    assert failed.extra["code"] == "node_timeout"


async def test_a_result_that_does_not_match_the_return_type_is_a_tool_error(
    planner_for: Factory,
) -> None:
    async def liar(x: int) -> int:
        return "not a number"  # type: ignore[return-value]

    planner, _, _ = planner_for([liar], [act("liar", {"x": 1}), final()])
    [(_, error)] = observations(await planner.run("try"))
    assert "does not match" in (error or "")
