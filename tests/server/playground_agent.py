"""An offline agent for the playground tests: tools, a scripted model, a project on disk.

The model answers from the question:

* ``weather in CITY``: calls ``lookup(city)``, then answers with the forecast;
* ``announce TEXT``: calls ``post_announcement`` (needs approval), then confirms;
* ``compare A and B``: looks both cities up in one parallel step, then answers;
* ``ask me``: calls ``ask_name``, which pauses for input, then greets the name.

``CALLS`` counts how often each tool really ran.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import tool
from penguiflow.planner import LLMResponse, ToolContext
from penguiflow.planner.agent import Agent
from penguiflow.planner.agent_config import AgentConfig
from penguiflow.planner.llm_types import Usage

CALLS: Counter[str] = Counter()
HERE = Path(__file__).resolve().parent


class City(BaseModel):
    city: str = Field(min_length=1, description="The city")


class Forecast(BaseModel):
    city: str
    forecast: str


class Announcement(BaseModel):
    text: str = Field(min_length=1, max_length=80, description="What to announce")
    priority: int = Field(default=1, ge=1, le=5, description="1 (low) to 5 (urgent)")


class Posted(BaseModel):
    posted: str
    priority: int


class Nothing(BaseModel):
    pass


class Name(BaseModel):
    name: str


@tool(desc="Look up the weather forecast of a city", side_effects="read")
async def lookup(args: City, ctx: ToolContext) -> Forecast:
    CALLS["lookup"] += 1
    return Forecast(city=args.city, forecast="sunny" if args.city != "Oslo" else "snow")


@tool(desc="Post an announcement to the team", side_effects="external", requires_approval=True)
async def post_announcement(args: Announcement, ctx: ToolContext) -> Posted:
    CALLS["post_announcement"] += 1
    return Posted(posted=args.text, priority=args.priority)


@tool(desc="Ask the human for their name", side_effects="pure")
async def ask_name(args: Nothing, ctx: ToolContext) -> Name:
    await ctx.pause("await_input", {"question": "What is your name?"})
    raise AssertionError("unreachable")


def _query(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        content = str(message.get("content") or "")
        if content.startswith("Query:"):
            return content.removeprefix("Query:").strip().splitlines()[0]
    return ""


def _observation(messages: list[dict[str, Any]]) -> Any:
    last = str(messages[-1].get("content") or "")
    if last.startswith("Observation"):
        return json.loads(last.partition("\n")[2])
    if last.startswith("Error"):
        return {"error": last}
    return None


def _final(answer: str) -> dict[str, Any]:
    return {"next_node": "final_response", "args": {"answer": answer}}


def _first(query: str) -> dict[str, Any]:
    if query.startswith("weather in "):
        return {"thought": "look it up", "next_node": "lookup", "args": {"city": query[11:]}}
    if query.startswith("announce "):
        return {"next_node": "post_announcement", "args": {"text": query[9:]}}
    if query.startswith("compare "):
        a, _, b = query[8:].partition(" and ")
        steps = [{"node": "lookup", "args": {"city": a}}, {"node": "lookup", "args": {"city": b}}]
        return {"thought": "both at once", "next_node": "parallel", "args": {"steps": steps}}
    if query.startswith("ask me"):
        return {"next_node": "ask_name", "args": {}}
    return _final(f"You said: {query}")


def _then(observed: Any) -> dict[str, Any]:
    if isinstance(observed, dict) and "error" in observed:
        return _final(f"That did not happen: {observed['error']}")
    if isinstance(observed, dict) and "branches" in observed:
        parts = [f"{b['result']['city']}: {b['result']['forecast']}" for b in observed["branches"]]
        return _final("; ".join(parts))
    if isinstance(observed, dict) and "forecast" in observed:
        return _final(f"It is {observed['forecast']} in {observed['city']}.")
    if isinstance(observed, dict) and "posted" in observed:
        return _final(f"Posted: {observed['posted']} (priority {observed['priority']})")
    return _final(f"Hello, {observed}!")


def reply(messages: list[dict[str, Any]], response_format: Any) -> LLMResponse:
    observed = _observation(messages)
    action = _first(_query(messages)) if observed is None else _then(observed)
    usage = Usage(prompt_tokens=100 + 10 * len(messages), completion_tokens=20)
    return LLMResponse(json.dumps(action), usage=usage, cost_usd=0.0004)


def make_client() -> Any:
    from penguiflow.planner import FunctionLLM

    return FunctionLLM(reply)


TOOLS = ["lookup", "post_announcement", "ask_name"]


def config(store_url: str, **settings: Any) -> AgentConfig:
    data: dict[str, Any] = {
        "name": "playground-test",
        "model": {"client": "playground_agent:make_client"},
        "tools": [{"type": "python", "path": f"playground_agent:{name}"} for name in TOOLS],
        "store": {"url": store_url},
        **settings,
    }
    return AgentConfig.from_dict(data, base_dir=HERE, source="playground test")


def make_agent(store_url: str) -> Agent:
    return Agent.from_config(config(store_url))


TOKEN = "test-token-" + "x" * 24


def serve(tmp_path: Path, **options: Any) -> Any:
    """Serve a playground of the test agent on 127.0.0.1 (a context manager of its URL)."""
    from scaleout_helpers import serve_in_thread

    from penguiflow.server.playground import create_playground_app

    store = f"sqlite+aiosqlite:///{tmp_path / 'playground.sqlite3'}"
    app = create_playground_app(make_agent(store), token=TOKEN, keepalive_s=0.5, **options)
    return serve_in_thread(app)
