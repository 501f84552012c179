from __future__ import annotations

import json

import pytest

from penguiflow.planner.actions import ParallelJoin, PlannerAction
from penguiflow.planner.parse import AnswerStreamExtractor, action_from_object, parse_action


def test_current_shape_parses() -> None:
    out = parse_action('{"thought": "x", "next_node": "search", "args": {"text": "a"}}')
    assert out.action == PlannerAction(thought="x", next_node="search", args={"text": "a"})
    assert out.action.kind == "tool"
    assert out.error is None and out.fixes == []


def test_opcodes_have_kinds() -> None:
    assert parse_action('{"next_node": "final_response", "args": {}}').action.kind == "final"
    assert parse_action('{"next_node": "parallel", "args": {}}').action.kind == "parallel"


def test_older_shape_finish_is_normalised() -> None:
    out = parse_action('{"thought": "ok", "next_node": null, "args": {"raw_answer": "42"}}')
    assert out.action is not None
    assert out.action.next_node == "final_response"
    assert out.action.args == {"answer": "42"}


def test_older_shape_plan_becomes_parallel() -> None:
    data = {
        "thought": "fan out",
        "next_node": None,
        "plan": [{"node": "a", "args": {"x": 1}}, {"node": "b", "args": {}}],
        "join": {"node": "c", "args": {}, "inject": {"mapping": {"items": "$results"}}},
    }
    out = action_from_object(data)
    assert out.action is not None and out.action.kind == "parallel"
    plan = out.action.parallel_args()
    assert [s.node for s in plan.steps] == ["a", "b"]
    assert plan.join == ParallelJoin(node="c", inject={"items": "$results"})


def test_plan_with_a_tool_next_node_is_rejected() -> None:
    out = action_from_object({"next_node": "a", "plan": []})
    assert out.action is None and "older shape" in (out.error or "")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON list"),
        ('{"args": {}}', "next_node: field required"),
        ('{"next_node": "", "args": {}}', "next_node"),
        ('{"next_node": "a", "args": [1]}', "args"),
        ('{"next_node": "a", "args": {}, "bogus": 1}', "bogus"),
    ],
)
def test_errors_name_the_problem(text: str, needle: str) -> None:
    out = parse_action(text)
    assert out.action is None
    assert needle in (out.error or "")


def test_inject_sources_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\$results"):
        ParallelJoin(node="c", inject={"x": "$nope"})


def _stream(text: str, size: int) -> str:
    extractor = AnswerStreamExtractor()
    out = "".join(extractor.feed(text[i : i + size]) for i in range(0, len(text), size))
    assert extractor.done
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_stream_extractor_decodes_answer_across_chunks(size: int) -> None:
    answer = 'Line 1\n"quoted" \\ back — ünï 😀 \t end'
    text = json.dumps(
        {
            "thought": 'the "answer": "no"',
            "next_node": "final_response",
            "args": {"answer": answer, "confidence": 0.5},
        }
    )
    assert _stream(text, size) == answer


def test_stream_extractor_ignores_replies_without_answer() -> None:
    extractor = AnswerStreamExtractor()
    assert extractor.feed('{"next_node": "search", "args": {"text": "x"}}') == ""
    assert not extractor.done
