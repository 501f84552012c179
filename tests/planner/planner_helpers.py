"""Tools, models and an offline LLM shared by the planner tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.planner.react import ReactPlanner


class Query(BaseModel):
    text: str = Field(min_length=1)
    limit: int = 3


class Found(BaseModel):
    value: str


class Numbers(BaseModel):
    values: list[Any] = Field(default_factory=list)
    count: int = 0


class Total(BaseModel):
    total: int


json_only = pytest.mark.parametrize("tool_mode", ["json"])
"""For a test of the JSON-action dialect itself (its text replies have no native form)."""

native_only = pytest.mark.parametrize("tool_mode", ["native"])
"""For a test of native tool calling itself."""


def tool_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(tool_call_id, tool name)`` of every call in ``messages`` that has its result."""
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    return [
        (call["id"], call["function"]["name"])
        for m in messages
        for call in m.get("tool_calls") or ()
        if call["id"] in answered
    ]


def act(next_node: str, args: dict[str, Any] | None = None, thought: str = "t") -> str:
    return json.dumps({"thought": thought, "next_node": next_node, "args": args or {}})


def final(answer: str = "done", **extra: Any) -> str:
    return act("final_response", {"answer": answer, **extra})


@tool(desc="Search the knowledge base", tags=["kb"])
async def search(args: Query, ctx: Any) -> Found:
    return Found(value=f"found:{args.text}:{args.limit}")


@tool(desc="Sum the values")
async def summarise(args: Numbers, ctx: Any) -> Total:
    return Total(total=len(args.values) + args.count)


@tool(desc="Always fails")
async def broken(args: Query, ctx: Any) -> Found:
    raise RuntimeError(f"boom on {args.text}")


@tool(desc="Never returns")
async def hang(args: Query, ctx: Any) -> Found:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


def registry_for(*pairs: tuple[str, type[BaseModel], type[BaseModel]]) -> ModelRegistry:
    registry = ModelRegistry()
    for name, in_model, out_model in pairs:
        registry.register(name, in_model, out_model)
    return registry


def basic_tools(
    *, hang_policy: NodePolicy | None = None, broken_policy: NodePolicy | None = None
) -> tuple[list[Node], ModelRegistry]:
    nodes = [
        Node(search, name="search"),
        Node(summarise, name="summarise"),
        Node(broken, name="broken", policy=broken_policy),
        Node(hang, name="hang", policy=hang_policy),
    ]
    registry = registry_for(
        ("search", Query, Found),
        ("summarise", Numbers, Total),
        ("broken", Query, Found),
        ("hang", Query, Found),
    )
    return nodes, registry


PlannerFactory = Callable[..., tuple[ReactPlanner, Any]]


class RoutingLLM:
    """Decides each reply from the request with ``fn(messages)``; safe for concurrent runs."""

    def __init__(
        self, fn: Callable[[list[dict[str, Any]]], str], *, model: str = "routing"
    ) -> None:
        self.fn = fn
        self.model = model
        self.calls = 0

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: Any = None,
    ) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        return self.fn(messages)
