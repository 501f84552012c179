"""Limits on what the planner reads from a reply, and text that UTF-8 cannot hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from planner_helpers import Found, PlannerFactory, Query, final, registry_for

from penguiflow import Node, tool
from penguiflow.errors import ConfigError
from penguiflow.planner.llm_types import ToolCall
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.testing import ScriptedLLM, tool_reply


def search_reply(tool_mode: str, args: str) -> Any:
    """A reply calling ``search`` with ``args`` (raw JSON text) in the planner's dialect."""
    if tool_mode == "native":
        return tool_reply(ToolCall("call_1", "search", args))
    return '{"thought": "t", "next_node": "search", "args": ' + args + "}"


def answer(tool_mode: str, text: str) -> Any:
    return tool_reply(text=text) if tool_mode == "native" else final(text)


NESTED = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ('{"text": ' + NESTED + "}", "nested too deeply"),
        ('{"text": "a", "x": ' + '{"a":' * 900 + "1" + "}" * 900 + "}", "max_reply_depth=32"),
        ('{"text": "a", "limit": ' + "9" * 5000 + "}", "an integer has too many digits"),
        ('{"text": "' + "x" * 20_000 + '"}', "more than max_reply_chars=10000"),
    ],
    ids=["nested-3000", "nested-900", "huge-int", "too-long"],
)
async def test_a_reply_over_the_limits_goes_back_to_the_model(
    make_planner: PlannerFactory, tool_mode: str, args: str, problem: str
) -> None:
    planner, llm = make_planner(
        [search_reply(tool_mode, args), answer(tool_mode, "done")], max_reply_chars=10_000
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete" and result.payload.raw_answer == "done"
    assert result.metadata["repairs"]["llm_repairs"] == 1
    assert problem in llm.requests[1].last_message


async def test_the_limits_are_settings(make_planner: PlannerFactory, tool_mode: str) -> None:
    planner, llm = make_planner(
        [
            search_reply(tool_mode, '{"text": "a", "x": [[[1]]]}'),
            search_reply(tool_mode, '{"text": "' + "y" * 200 + '"}'),
            search_reply(tool_mode, '{"text": "a", "x": [1]}'),
            answer(tool_mode, "done"),
        ],
        max_reply_depth=3,
        max_reply_chars=150,
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert "max_reply_depth=3" in llm.requests[1].last_message
    assert "max_reply_chars=150" in llm.requests[2].last_message
    assert result.metadata["steps"][0]["observation"] == {"value": "found:a:3"}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_reply_chars", 0),
        ("max_reply_chars", True),
        ("max_reply_chars", 1.5),
        ("max_reply_chars", None),
        ("max_reply_depth", 1),
        ("max_reply_depth", 129),
        ("max_reply_depth", "32"),
    ],
)
def test_bad_limits_are_refused_with_the_rule(setting: str, value: Any) -> None:
    nodes, registry = [], registry_for()
    with pytest.raises(ConfigError, match=rf"ReactPlanner\({setting}=\.\.\.\) must be"):
        ReactPlanner(llm_client=ScriptedLLM([]), nodes=nodes, registry=registry, **{setting: value})


async def test_lone_surrogates_in_a_reply_become_replacement_characters(
    make_planner: PlannerFactory, tool_mode: str
) -> None:
    if tool_mode == "native":  # a raw lone surrogate, as a client may decode one
        reply: Any = tool_reply(text="ok \ud800")
    else:  # a JSON escape of a lone surrogate
        reply = '{"next_node": "final_response", "args": {"answer": "ok \\ud800"}}'
    planner, _llm = make_planner([search_reply(tool_mode, '{"text": "x\\udfff"}'), reply])
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert result.payload.raw_answer == "ok \ufffd"
    assert result.metadata["steps"][0]["observation"] == {"value": "found:x\ufffd:3"}
    json.dumps(result.metadata, ensure_ascii=False).encode("utf-8")  # storable as UTF-8


@tool(desc="Returns text that UTF-8 cannot hold")
async def broken_text(args: Query, ctx: Any) -> Found:
    return Found(value="half an emoji: \ud83d, a stray low half: \udc80")


async def test_a_tool_result_with_a_lone_surrogate_is_shown_to_the_model(
    make_planner: PlannerFactory, tool_mode: str
) -> None:
    nodes = [Node(broken_text, name="broken_text")]
    registry = registry_for(("broken_text", Query, Found))
    call = (
        tool_reply(("broken_text", {"text": "a"}))
        if tool_mode == "native"
        else json.dumps({"next_node": "broken_text", "args": {"text": "a"}})
    )
    planner, llm = make_planner([call, answer(tool_mode, "done")], nodes=nodes, registry=registry)
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    prompt = json.dumps(llm.requests[1].messages, ensure_ascii=False)
    assert "half an emoji: \ufffd, a stray low half: \ufffd" in prompt
