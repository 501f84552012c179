"""A chat agent that remembers the conversation, even after a restart.

    python examples/memory_chat/chat.py                    # offline, no network
    python examples/memory_chat/chat.py --db chat.sqlite3  # keep the SQLite file
    PENGUIFLOW_MODEL=openai/gpt-4o-mini python examples/memory_chat/chat.py  # a real model

Session 1 tells the agent a few things and asks it to look up the weather; then the
planner and the store are closed, as when the process exits. Session 2 builds a new
store and a new planner on the same SQLite file, and the agent still knows the user's
favourite city and the weather it found there: older turns were folded into a rolling
summary in the background, the latest turns are kept word for word, and both were
persisted per session in the store.

Offline, the "model" is a small function (``notebook_model``) that reads only what the
planner sends it: the memory block, the query and tool observations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.memory import MemoryBudget, MemoryKey, ShortTermMemoryConfig
from penguiflow.planner import FunctionLLM, PlannerEvent, ReactPlanner, ToolContext
from penguiflow.sessions import SqlSessionStore

SKIES = {"lisbon": (21.0, "sunny"), "oslo": (-2.0, "snowing"), "lima": (19.0, "cloudy")}
KEY = MemoryKey(tenant_id="demo", user_id="ada", session_id="chat-1")
MEMORY = ShortTermMemoryConfig(
    strategy="rolling_summary",
    budget=MemoryBudget(full_zone_turns=2, summary_max_tokens=300, total_max_tokens=2000),
)
SESSION_1 = [
    "Hi! I'm Ada and my favourite city is Lisbon.",
    "What is the weather like in Lisbon right now?",
    "Thanks. I also have a cat called Pixel.",
]
SESSION_2 = ["Which city is my favourite, and what was the weather there?"]


class CityArgs(BaseModel):
    city: str = Field(min_length=1, max_length=40, description="City name, e.g. 'Lisbon'")


class Weather(BaseModel):
    city: str
    celsius: float
    sky: str


@tool(desc="Current weather of a city (Celsius and sky)", side_effects="read")
async def get_weather(args: CityArgs, ctx: ToolContext) -> Weather:
    celsius, sky = SKIES.get(args.city.strip().lower(), (15.0, "unknown"))
    return Weather(city=args.city, celsius=celsius, sky=sky)


def _action(next_node: str, args: dict[str, Any]) -> str:
    return json.dumps({"thought": "", "next_node": next_node, "args": args})


def _summarise(text: str) -> str:
    """The offline summariser: keeps the facts later turns may need."""
    facts = []
    if name := re.search(r"I'm (\w+)", text):
        facts.append(f"The user is {name.group(1)}.")
    if city := re.search(r"favourite city is (\w+)", text):
        facts.append(f"Their favourite city is {city.group(1)}.")
    for found in re.finditer(r'"city":"(\w+)","celsius":([\d.-]+),"sky":"(\w+)"', text):
        facts.append(f"get_weather said {found[1]} was {found[2]} °C and {found[3]}.")
    return " ".join(facts) or "Small talk only."


_WEATHER_FACT = r'"city":"(\w+)","celsius":([\d.-]+),"sky":"(\w+)"|(\w+) was ([\d.-]+) °C and (\w+)'


def notebook_model(messages: list[dict[str, Any]], response_format: Any) -> str:
    """Offline stand-in for an LLM: decides from the request alone, like a model would."""
    if messages[0]["content"].startswith("You keep the running summary"):
        return _summarise(messages[-1]["content"])  # a summary request from memory
    memory = "\n".join(m["content"] for m in messages[1:] if m["role"] == "system")
    last = messages[-1]["content"]
    if last.startswith("Observation"):
        found = json.loads(last.split("\n", 1)[1])
        answer = f"It is {found['celsius']:g} °C and {found['sky']} in {found['city']}."
        return _action("final_response", {"answer": answer})
    if city := re.search(r"weather like in (\w+)", last):
        return _action("get_weather", {"city": city.group(1)})
    if "Which city is my favourite" in last:
        city = re.search(r"favourite city is (\w+)", memory)
        if city is None:
            return _action("final_response", {"answer": "You have not told me yet."})
        answer = f"Your favourite city is {city.group(1)}."
        # the weather is in the summary, or in a remembered tool call
        for found in re.finditer(_WEATHER_FACT, memory):
            place, celsius, sky = (g for g in found.groups() if g)
            if place == city.group(1):
                answer += f" When I checked, it was {float(celsius):g} °C and {sky}."
                break
        return _action("final_response", {"answer": answer})
    name = re.search(r"I'm (\w+)|User: .*I'm (\w+)", last + "\n" + memory)
    who = next((g for g in name.groups() if g), "") if name else ""
    return _action("final_response", {"answer": f"Noted{', ' + who if who else ''}!"})


def build_planner(store: SqlSessionStore) -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("get_weather", CityArgs, Weather)
    nodes = [Node(get_weather, name="get_weather", policy=NodePolicy(timeout_s=5))]
    options: dict[str, Any] = {
        "nodes": nodes,
        "registry": registry,
        "short_term_memory": MEMORY,
        "state_store": store,
        "event_callback": show_memory_event,
    }
    model = os.environ.get("PENGUIFLOW_MODEL")
    if model:
        return ReactPlanner(llm=model, **options)
    return ReactPlanner(llm_client=FunctionLLM(notebook_model), **options)


def show_memory_event(event: PlannerEvent) -> None:
    if event.event_type.startswith("memory_"):
        print(f"    ({event.event_type}, {event.extra.get('turns', '')} turn(s))")


async def session(label: str, url: str, messages: list[str]) -> None:
    async with SqlSessionStore(url) as store:
        planner = build_planner(store)
        try:
            for text in messages:
                print(f"[{label}] user: {text}")
                result = await planner.run(text, memory_key=KEY)
                answer = result.payload.raw_answer if result.payload else "(no answer)"
                memory = result.metadata.get("memory", {})
                print(f"[{label}] assistant: {answer}")
                print(f"    (memory shown: {memory.get('tokens', 0)} tokens)")
        finally:
            await planner.aclose()  # waits for background summaries
        state, version = await store.load_memory(KEY)
        if state is not None:
            print(
                f"    (stored: summary of {state['summarized_turns']} turn(s), "
                f"{len(state['recent'])} recent turn(s), version {version})"
            )


async def main_async(db: Path) -> None:
    url = f"sqlite+aiosqlite:///{db}"
    await session("session 1", url, SESSION_1)
    print("-- restart: planner and store closed; only the SQLite file remains --")
    await session("session 2", url, SESSION_2)


def main() -> None:
    parser = argparse.ArgumentParser(description="memory across a restart")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    ns = parser.parse_args()
    if ns.db is not None:
        asyncio.run(main_async(ns.db))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main_async(Path(folder) / "memory_chat.sqlite3"))


if __name__ == "__main__":
    main()
