from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, build_catalog, tool
from penguiflow.planner.schema import (
    FormatMemory,
    StringBounds,
    build_action_schemas,
    strip_optional_nulls,
)


class Inner(BaseModel):
    label: str
    note: str | None = None


class SearchArgs(BaseModel):
    text: str = Field(min_length=1, max_length=50)
    limit: int = 3
    inner: Inner | None = None
    title: str = "kept"  # a field named like a JSON-schema keyword


class SearchOut(BaseModel):
    hits: list[str]


class OtherInner(BaseModel):
    other: int


class OtherArgs(BaseModel):
    inner: OtherInner  # a $defs name that clashes with SearchArgs' Inner? no: different name
    free: dict[str, Any] = Field(default_factory=dict)
    tags: list[Any] = Field(default_factory=list)


@tool(desc="Search")
async def search(args: SearchArgs, ctx: Any) -> SearchOut:
    return SearchOut(hits=[])


@tool(desc="Other")
async def other(args: OtherArgs, ctx: Any) -> SearchOut:
    return SearchOut(hits=[])


def _catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("search", SearchArgs, SearchOut)
    registry.register("other", OtherArgs, SearchOut)
    return build_catalog([Node(search, name="search"), Node(other, name="other")], registry)


@pytest.fixture(scope="module")
def strict() -> dict[str, Any]:
    return build_action_schemas(_catalog(), bounds=StringBounds(argument=100)).strict


def _walk_objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            found.append(node)
        for key, value in node.items():
            if key == "properties":
                for prop in value.values():
                    found.extend(_walk_objects(prop))
            else:
                found.extend(_walk_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk_objects(value))
    return found


def test_one_branch_per_tool_plus_opcodes(strict: dict[str, Any]) -> None:
    names = [b["properties"]["next_node"]["const"] for b in strict["anyOf"]]
    assert names == ["search", "other", "final_response", "parallel"]
    for branch in strict["anyOf"]:
        assert branch["properties"]["next_node"]["enum"] == [
            branch["properties"]["next_node"]["const"]
        ]


def test_every_object_is_closed_and_fully_required(strict: dict[str, Any]) -> None:
    objects = _walk_objects(strict)
    assert len(objects) > 8
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])


def test_strings_are_bounded_and_keywords_dropped(strict: dict[str, Any]) -> None:
    args = strict["anyOf"][0]["properties"]["args"]
    assert args["properties"]["text"]["maxLength"] == 50  # the model's own bound wins
    title = args["properties"]["title"]["anyOf"][0]
    assert title["maxLength"] == 100 and "default" not in title
    assert "title" not in args  # pydantic's schema title removed, the field kept
    assert "title" in args["properties"]


def test_defs_are_prefixed_per_tool(strict: dict[str, Any]) -> None:
    assert set(strict["$defs"]) == {"search__Inner", "other__OtherInner"}


def test_valid_actions_validate_and_bad_ones_do_not(strict: dict[str, Any]) -> None:
    good = {
        "thought": "",
        "next_node": "search",
        "args": {"text": "a", "limit": None, "inner": {"label": "x", "note": None}, "title": None},
    }
    jsonschema.validate(good, strict)
    final = {
        "thought": "",
        "next_node": "final_response",
        "args": {"answer": "ok", "sources": None, "confidence": 0.3},
    }
    jsonschema.validate(final, strict)
    parallel = {
        "thought": "",
        "next_node": "parallel",
        "args": {
            "steps": [{"node": "search", "args": good["args"]}],
            "join": {
                "node": "other",
                "args": {"inner": None, "free": None, "tags": None},
                "inject": {"inner": None, "free": "$results", "tags": None},
            },
        },
    }
    jsonschema.validate(parallel, strict)
    bad = [
        {**good, "next_node": "nope"},
        {**good, "args": {**good["args"], "extra": 1}},
        {**good, "args": {**good["args"], "text": "x" * 51}},
        {**good, "extra": 1},
        {
            "thought": "",
            "next_node": "final_response",
            "args": {"answer": 3, "sources": None, "confidence": None},
        },
    ]
    for case in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(case, strict)


def test_final_response_model_shapes_the_final_branch() -> None:
    class Report(BaseModel):
        answer: str
        score: int

    strict = build_action_schemas(_catalog(), final_response_model=Report).strict
    final = next(
        b for b in strict["anyOf"] if b["properties"]["next_node"]["const"] == "final_response"
    )
    assert set(final["properties"]["args"]["properties"]) == {"answer", "score"}


def test_no_tools_means_no_parallel_branch() -> None:
    schemas = build_action_schemas([])
    assert [b["properties"]["next_node"]["const"] for b in schemas.strict["anyOf"]] == [
        "final_response"
    ]
    assert schemas.generic["properties"]["next_node"]["enum"] == ["final_response"]


def test_response_formats_per_mode() -> None:
    schemas = build_action_schemas(_catalog())
    strict = schemas.response_format("strict")
    assert strict is not None and strict["json_schema"]["strict"] is True
    generic = schemas.response_format("generic")
    assert generic is not None and generic["json_schema"]["schema"] is schemas.generic
    assert schemas.response_format("json_object") == {"type": "json_object"}
    assert schemas.response_format("prompt") is None


def test_format_memory_steps_down_per_model() -> None:
    memory = FormatMemory()
    assert memory.mode_for("a") == "strict"
    assert memory.step_down("a", "strict") == "generic"
    assert memory.mode_for("a") == "generic" and memory.mode_for("b") == "strict"
    assert memory.step_down("a", "generic") == "json_object"
    assert memory.step_down("a", "json_object") == "prompt"
    assert memory.step_down("a", "prompt") is None
    # A stale rejection of a mode above the current one never moves back up.
    assert memory.step_down("a", "strict") == "prompt"


def test_format_memory_is_bounded() -> None:
    memory = FormatMemory(max_models=2)
    for model in ("a", "b", "c"):
        memory.step_down(model, "strict")
    assert memory.mode_for("a") == "strict"
    assert memory.mode_for("c") == "generic"


def test_strip_optional_nulls_follows_refs() -> None:
    schema = SearchArgs.model_json_schema()
    value = {"text": "a", "limit": None, "inner": {"label": "x", "note": None}, "title": None}
    assert strip_optional_nulls(value, schema) == {"text": "a", "inner": {"label": "x"}}
    # required fields keep their null so validation reports them
    assert strip_optional_nulls({"text": None}, schema) == {"text": None}


def _arrays(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "array":
            found.append(node)
        for value in node.values():
            found.extend(_arrays(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_arrays(value))
    return found


def test_every_array_has_typed_items(strict: dict[str, Any]) -> None:
    # llama.cpp's grammar conversion stops at an untyped array (``items: {}``)
    arrays = _arrays(strict)
    assert len(arrays) >= 3  # tags, the answer's sources, the parallel steps
    for array in arrays:
        items = array["items"]
        assert items and all(option.get("type") for option in items.get("anyOf", [items]))
    tags = strict["anyOf"][1]["properties"]["args"]["properties"]["tags"]["anyOf"][0]
    jsonschema.validate(["a", 1, True, None], tags)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"nested": "object"}], tags)


def _bounds(strict: dict[str, Any]) -> tuple[int, int, int]:
    search = strict["anyOf"][0]["properties"]
    final = next(
        b for b in strict["anyOf"] if b["properties"]["next_node"]["const"] == "final_response"
    )
    return (
        search["thought"]["maxLength"],
        search["args"]["properties"]["title"]["anyOf"][0]["maxLength"],
        final["properties"]["args"]["properties"]["answer"]["maxLength"],
    )


def test_string_bounds_fit_the_reply_token_limit() -> None:
    catalog = _catalog()
    unlimited = build_action_schemas(catalog).strict
    assert _bounds(unlimited) == (500, 4096, 16000)
    fitted = build_action_schemas(catalog, bounds=StringBounds.fitting(200)).strict
    assert _bounds(fitted) == (50, 100, 100)  # a thought and a string close within 200
    chosen = StringBounds.fitting(200, max_string_length=30, max_thought_length=20)
    assert _bounds(build_action_schemas(catalog, bounds=chosen).strict) == (20, 30, 30)
    # a tool's own max_length is kept
    assert fitted["anyOf"][0]["properties"]["args"]["properties"]["text"]["maxLength"] == 50


async def test_the_planner_bounds_strings_by_the_clients_max_tokens() -> None:
    from penguiflow.planner.llm import LiteLLMClient
    from penguiflow.planner.react import ReactPlanner

    client = LiteLLMClient("openai/local", api_base="http://127.0.0.1:1/v1", max_tokens=200)
    async with ReactPlanner(llm_client=client, catalog=_catalog(), tool_mode="json") as planner:
        assert planner.response_format is not None
        assert _bounds(planner.response_format["json_schema"]["schema"]) == (50, 100, 100)
    async with ReactPlanner(
        llm_client=client, catalog=_catalog(), tool_mode="json", max_string_length=64
    ) as planner:
        assert planner.response_format is not None
        assert _bounds(planner.response_format["json_schema"]["schema"]) == (50, 64, 64)
