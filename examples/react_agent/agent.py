"""A ReactPlanner agent with three tools, runnable offline.

    python examples/react_agent/agent.py                 # scripted LLM, no network
    python examples/react_agent/agent.py --test-llm      # TestLLM: calls every tool once
    PENGUIFLOW_MODEL=openai/gpt-4o-mini python examples/react_agent/agent.py   # a real model

The planner compares the weather of two cities: it fetches both in one ``parallel`` step
(each call is a message through the planner's runtime flow, with a NodePolicy timeout),
joins the results with a third tool, then answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.planner import (
    LLMClient,
    PlannerEvent,
    PlannerFinish,
    ReactPlanner,
    ScriptedLLM,
    TestLLM,
    ToolContext,
)

WEATHER = {"oslo": (-3.0, "snow"), "lisbon": (17.5, "sun"), "lima": (19.0, "cloud")}


class CityArgs(BaseModel):
    city: str = Field(min_length=1, max_length=40, description="City name, e.g. 'Oslo'")


class Weather(BaseModel):
    city: str
    celsius: float
    sky: str


class CompareArgs(BaseModel):
    reports: list[Weather] = Field(min_length=1, description="Weather reports to compare")


class Comparison(BaseModel):
    warmest: str
    coldest: str
    spread_celsius: float


class NoArgs(BaseModel):
    pass


class CityList(BaseModel):
    cities: list[str]


@tool(desc="Current weather of a city (temperature in Celsius and sky)", side_effects="read")
async def get_weather(args: CityArgs, ctx: ToolContext) -> Weather:
    units = (ctx.tool_context or {}).get("units", "metric")
    celsius, sky = WEATHER.get(args.city.strip().lower(), (12.0, "unknown"))
    await ctx.emit_chunk(f"looked up {args.city} ({units})")
    return Weather(city=args.city, celsius=celsius, sky=sky)


@tool(desc="Compare weather reports: warmest, coldest and the temperature spread")
async def compare_weather(args: CompareArgs, ctx: ToolContext) -> Comparison:
    ordered = sorted(args.reports, key=lambda r: r.celsius)
    return Comparison(
        warmest=ordered[-1].city,
        coldest=ordered[0].city,
        spread_celsius=round(ordered[-1].celsius - ordered[0].celsius, 1),
    )


@tool(desc="List the cities with known weather")
async def list_cities(args: NoArgs, ctx: ToolContext) -> CityList:
    return CityList(cities=sorted(WEATHER))


def catalog() -> tuple[list[Node], ModelRegistry]:
    policy = NodePolicy(timeout_s=5.0, max_retries=1, backoff_base=0.1)
    nodes = [
        Node(get_weather, name="get_weather", policy=policy),
        Node(compare_weather, name="compare_weather"),
        Node(list_cities, name="list_cities"),
    ]
    registry = ModelRegistry()
    registry.register("get_weather", CityArgs, Weather)
    registry.register("compare_weather", CompareArgs, Comparison)
    registry.register("list_cities", NoArgs, CityList)
    return nodes, registry


def scripted() -> ScriptedLLM:
    """The replies a model would give for the demo question."""
    plan = {
        "thought": "Fetch both cities at once, then compare them.",
        "next_node": "parallel",
        "args": {
            "steps": [
                {"node": "get_weather", "args": {"city": "Oslo"}},
                {"node": "get_weather", "args": {"city": "Lisbon"}},
            ],
            "join": {"node": "compare_weather", "args": {}, "inject": {"reports": "$results"}},
        },
    }
    answer = {
        "thought": "The join has the answer.",
        "next_node": "final_response",
        "args": {
            "answer": "Lisbon is warmer: 17.5 °C and sunny, against -3 °C and snow in Oslo "
            "(a 20.5 °C spread).",
            "sources": ["get_weather", "compare_weather"],
            "confidence": 0.9,
        },
    }
    return ScriptedLLM([json.dumps(plan), json.dumps(answer)])


def build_planner(
    *, use_test_llm: bool = False, client: LLMClient | None = None, on_event: Any = None
) -> ReactPlanner:
    nodes, registry = catalog()
    options: dict[str, Any] = {
        "nodes": nodes,
        "registry": registry,
        "max_iters": 6,
        "deadline_s": 60,
        "event_callback": on_event,
        "system_prompt_extra": "Answer in one sentence and cite the tools you used.",
    }
    model = os.environ.get("PENGUIFLOW_MODEL")
    if client is not None:
        return ReactPlanner(llm_client=client, **options)
    if use_test_llm:
        from penguiflow import build_catalog

        return ReactPlanner(llm_client=TestLLM(build_catalog(nodes, registry)), **options)
    if model:
        return ReactPlanner(llm=model, **options)
    return ReactPlanner(llm_client=scripted(), **options)


def show(event: PlannerEvent) -> None:
    if event.event_type == "tool_call_start":
        print(f"  -> {event.node_name}")
    elif event.event_type == "tool_call_error":
        print(f"  !! {event.node_name}: {event.error}")
    elif event.event_type == "stream_chunk" and event.text:
        print(f"     {event.node_name}: {event.text}")


async def run_demo(question: str, *, use_test_llm: bool = False) -> PlannerFinish:
    async with build_planner(use_test_llm=use_test_llm, on_event=show) as planner:
        return await planner.run(
            question, tool_context={"units": "metric"}, llm_context={"today": "2024-06-01"}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="ReactPlanner demo")
    parser.add_argument("question", nargs="?", default="Is it warmer in Oslo or in Lisbon?")
    parser.add_argument("--test-llm", action="store_true", help="use TestLLM (no script)")
    ns = parser.parse_args()
    print(f"question: {ns.question}")
    result = asyncio.run(run_demo(ns.question, use_test_llm=ns.test_llm))
    print(f"reason: {result.reason}")
    if result.payload is not None:
        print(f"answer: {result.payload.raw_answer}")
    meta = result.metadata
    print(
        f"steps: {meta['step_count']}, tool calls: {meta['budgets']['hops']}, "
        f"LLM calls: {meta['usage']['calls']}, tokens: {meta['usage']['total_tokens']}"
    )


if __name__ == "__main__":
    main()
