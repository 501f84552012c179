"""Tools, scripted planners and span readers for the telemetry tests.

Also imported by ``_resume_process.py`` (a subprocess), so it has no pytest imports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.planner import ReactPlanner, ScriptedLLM, ToolContext
from penguiflow.planner.llm_types import LLMResponse, Usage

MODEL = "openai/gpt-4o-mini"
SECRET = "sk-otel-SECRET-0123456789abcdef"
"""A credential-shaped value tests put in prompts, arguments and results."""

EVERY_METRIC = {
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.duration",
    "penguiflow.run.duration",
    "penguiflow.tool.duration",
    "penguiflow.tool.errors",
    "penguiflow.node.queue.depth",
    "penguiflow.node.in_flight",
    "penguiflow.pauses.pending",
    "penguiflow.worker.jobs",
}
"""Every metric penguiflow.telemetry emits (docs/observability.md lists them)."""


class CityArgs(BaseModel):
    city: str


class Weather(BaseModel):
    city: str
    celsius: float


class RefundArgs(BaseModel):
    order_id: int
    note: str = ""


class Refunded(BaseModel):
    order_id: int


class Ledger:
    """Counts tool calls in a file, across processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def add(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []


_flaky_calls: dict[str, int] = {}


@tool(desc="Current weather of a city", side_effects="read")
async def weather(args: CityArgs, ctx: ToolContext) -> Weather:
    if args.city == "Atlantis":
        raise RuntimeError(f"no such city {args.city}")
    return Weather(city=args.city, celsius=20.0)


@tool(desc="Weather from a flaky service", side_effects="read")
async def flaky(args: CityArgs, ctx: ToolContext) -> Weather:
    seen = _flaky_calls[ctx.trace_id] = _flaky_calls.get(ctx.trace_id, 0) + 1
    if seen == 1:
        raise ConnectionError("first call fails")
    return Weather(city=args.city, celsius=11.0)


@tool(desc="Refund an order", side_effects="write", requires_approval=True)
async def refund(args: RefundArgs, ctx: ToolContext) -> Refunded:
    Ledger(ctx.tool_context["ledger"]).add(f"refund {args.order_id}")
    return Refunded(order_id=args.order_id)


def catalog(*, approvals: bool = True) -> tuple[list[Node], ModelRegistry]:
    registry = ModelRegistry()
    registry.register("weather", CityArgs, Weather)
    registry.register("flaky", CityArgs, Weather)
    nodes = [
        Node(weather, name="weather"),
        Node(flaky, name="flaky", policy=NodePolicy(max_retries=2, backoff_base=0.0)),
    ]
    if approvals:
        registry.register("refund", RefundArgs, Refunded)
        nodes.append(Node(refund, name="refund"))
    return nodes, registry


def reply(action: dict[str, Any], *, prompt: int = 100, completion: int = 20) -> LLMResponse:
    """A JSON-mode reply with usage and a cost, as a provider would send it."""
    return LLMResponse(
        json.dumps(action),
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        cost_usd=0.0005,
        model="gpt-4o-mini-2024-07-18",
    )


def act(next_node: str, args: dict[str, Any]) -> LLMResponse:
    return reply({"thought": "t", "next_node": next_node, "args": args})


def parallel(steps: Sequence[tuple[str, dict[str, Any]]]) -> LLMResponse:
    plan = {"steps": [{"node": name, "args": args} for name, args in steps]}
    return act("parallel", plan)


def final(answer: str) -> LLMResponse:
    return act("final_response", {"answer": answer})


class ModelLLM(ScriptedLLM):
    """A scripted client that names its model, as a LiteLLM client does."""

    model = MODEL


def build_planner(replies: list[Any], **kwargs: Any) -> ReactPlanner:
    """A planner named ``assistant`` over the tools (``refund`` only with a store)."""
    nodes, registry = catalog(approvals=kwargs.get("state_store") is not None)
    kwargs.setdefault("tool_mode", "json")
    return ReactPlanner(
        llm_client=ModelLLM(replies), nodes=nodes, registry=registry, name="assistant", **kwargs
    )


def env_with_secret() -> dict[str, str]:
    return {**os.environ, "OTEL_TEST_API_KEY": SECRET}
