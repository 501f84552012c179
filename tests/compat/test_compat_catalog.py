"""The tool catalog as documented: ``@tool`` options, ``ToolInputExample``, loading modes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from penguiflow import (
    ModelRegistry,
    Node,
    NodeSpec,
    SideEffect,
    ToolInputExample,
    ToolLoadingMode,
    build_catalog,
    tool,
)
from penguiflow.errors import ConfigError


class Query(BaseModel):
    text: str


class Answer(BaseModel):
    answer: str


@tool(
    desc="Search the knowledge base",
    side_effects="read",
    tags=["kb", "search", "kb"],
    examples=[
        {"args": {"text": "penguins"}, "description": "a topic", "tags": ["basic", "basic"]},
        ToolInputExample(args={"text": "krill"}),
    ],
    loading_mode="deferred",
)
async def search(args: Query, ctx) -> Answer:
    return Answer(answer=args.text)


@tool(desc="Say hello")
async def hello(args: Query, ctx) -> Answer:
    return Answer(answer=f"hello {args.text}")


def registry() -> ModelRegistry:
    registry = ModelRegistry()
    registry.register("search", Query, Answer)
    registry.register("hello", Query, Answer)
    return registry


def test_tool_options_reach_the_catalog() -> None:
    nodes = [Node(search, name="search"), Node(hello, name="hello")]
    spec, plain = build_catalog(nodes, registry())
    assert isinstance(spec, NodeSpec)
    assert (spec.desc, spec.side_effects, spec.tags) == (
        "Search the knowledge base",
        "read",
        ("kb", "search"),
    )
    assert spec.loading_mode is ToolLoadingMode.DEFERRED
    assert [e.args for e in spec.examples] == [{"text": "penguins"}, {"text": "krill"}]
    assert spec.examples[0].tags == ["basic"]
    record = spec.to_tool_record()
    assert record["examples"][0] == {
        "args": {"text": "penguins"},
        "description": "a topic",
        "tags": ["basic"],
    }
    assert plain.loading_mode is ToolLoadingMode.ALWAYS and "examples" not in plain.to_tool_record()


def test_the_catalog_default_loading_mode_applies_to_tools_without_one() -> None:
    nodes = [Node(search, name="search"), Node(hello, name="hello")]
    spec, plain = build_catalog(nodes, registry(), default_loading_mode=ToolLoadingMode.DEFERRED)
    assert spec.loading_mode is plain.loading_mode is ToolLoadingMode.DEFERRED
    always = build_catalog(nodes, registry(), default_loading_mode="always")
    assert always[0].loading_mode is ToolLoadingMode.DEFERRED  # the tool's own choice wins


def test_side_effect_values_are_the_documented_literal() -> None:
    effect: SideEffect = "external"
    assert effect == "external"
    assert ToolLoadingMode("always") is ToolLoadingMode.ALWAYS


def test_bad_tool_options_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="'always' or 'deferred'"):
        tool(desc="x", loading_mode="lazy")
    with pytest.raises(ConfigError, match="bad example"):
        tool(desc="x", examples=[{"description": "no args"}])
    with pytest.raises(ConfigError, match="ToolInputExample or dicts"):
        tool(desc="x", examples=["text"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="JSON"):
        ToolInputExample(args={"when": object()})
