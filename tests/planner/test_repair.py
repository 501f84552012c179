from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from penguiflow.planner.parse import parse_action
from penguiflow.planner.repair import NO_OBJECT, repair_instruction, repair_locally

KNOWN = {"search", "summarise", "final_response", "parallel"}


def _repair(text: str):  # type: ignore[no-untyped-def]
    assert parse_action(text).action is None, "the case must not parse strictly"
    return repair_locally(text, known_nodes=KNOWN)


@pytest.mark.parametrize(
    ("text", "fix", "node", "args"),
    [
        (
            '```json\n{"next_node": "search", "args": {"text": "a"}}\n```',
            "code_fence",
            "search",
            {"text": "a"},
        ),
        (
            'Sure! Here you go: {"next_node": "search", "args": {"text": "a"}} Hope it helps.',
            "extracted_object",
            "search",
            {"text": "a"},
        ),
        (
            '{"next_node": "search", "args": {"text": "a",},}',
            "trailing_commas",
            "search",
            {"text": "a"},
        ),
        (
            "{'next_node': 'search', 'args': {'text': 'it', 'flag': True, 'n': None}}",
            "python_literal",
            "search",
            {"text": "it", "flag": True, "n": None},
        ),
        (
            '{"answer": "42", "thought": "easy"}',
            "answer_at_top_level",
            "final_response",
            {"answer": "42"},
        ),
        (
            '{"next_node": "final_response", "answer": "42", "confidence": 0.9}',
            "answer_at_top_level",
            "final_response",
            {"answer": "42", "confidence": 0.9},
        ),
        ('{"next_node": "search", "text": "a"}', "args_at_top_level", "search", {"text": "a"}),
        (
            '{"next_node": "search", "args": "{\\"text\\": \\"a\\"}"}',
            "args_as_string",
            "search",
            {"text": "a"},
        ),
        ('{"tool": "search", "arguments": {"text": "a"}}', "renamed_keys", "search", {"text": "a"}),
    ],
)
def test_local_fixes(text: str, fix: str, node: str, args: dict[str, object]) -> None:
    out = _repair(text)
    assert out.action is not None, out.error
    assert fix in out.fixes
    assert out.action.next_node == node
    assert out.action.args == args


def test_trailing_comma_inside_string_is_kept() -> None:
    out = _repair('{"next_node": "search", "args": {"text": "a,}"},}')
    assert out.action is not None and out.action.args == {"text": "a,}"}


def test_several_objects_pick_the_valid_one() -> None:
    text = (
        'First I thought {"next_node": "nonsense_tool", "args": {}} but then '
        '{"oops": 1} and finally {"next_node": "search", "args": {"text": "b"}}'
    )
    out = _repair(text)
    assert out.action is not None and out.action.next_node == "search"


def test_unknown_node_kept_when_nothing_better() -> None:
    out = _repair('Answer: {"next_node": "nonsense", "args": {}}')
    assert out.action is not None and out.action.next_node == "nonsense"


def test_prose_without_object_is_not_an_answer() -> None:
    out = _repair("The answer is 42.")
    assert out.action is None and out.error == NO_OBJECT


def test_structurally_wrong_object_reports_field() -> None:
    out = _repair('Here: {"args": {"text": "a"}}')
    assert out.action is None and "next_node" in (out.error or "")


def test_repair_instruction_lists_nodes_and_error() -> None:
    text = repair_instruction("args.text: field required", valid_nodes=["search"])
    assert "args.text: field required" in text
    assert "search, final_response, parallel" in text


@given(
    node=st.sampled_from(["search", "summarise"]),
    value=st.text(max_size=30),
    prefix=st.sampled_from(["", "Sure:\n", "I'll call it. "]),
    fenced=st.booleans(),
)
def test_wrapped_valid_actions_are_recovered(
    node: str, value: str, prefix: str, fenced: bool
) -> None:
    body = json.dumps({"thought": "x", "next_node": node, "args": {"text": value}})
    text = prefix + (f"```json\n{body}\n```" if fenced else body)
    out = parse_action(text)
    if out.action is None:
        out = repair_locally(text, known_nodes=KNOWN)
    assert out.action is not None
    assert out.action.next_node == node and out.action.args == {"text": value}
