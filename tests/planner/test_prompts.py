from __future__ import annotations

import json

import pytest
from planner_helpers import basic_tools
from pydantic import BaseModel, ValidationError

from penguiflow import build_catalog
from penguiflow.planner.prompts import (
    PlanningHints,
    build_system_prompt,
    digest_step,
    query_message,
    step_messages,
)
from penguiflow.planner.run_state import RunState


def test_system_prompt_lists_every_tool_with_schemas() -> None:
    specs = build_catalog(*basic_tools())
    prompt = build_system_prompt(specs, max_parallel=3)
    lines = [json.loads(line) for line in prompt.splitlines() if line.startswith('{"name"')]
    assert [line["name"] for line in lines] == ["search", "summarise", "broken", "hang"]
    assert lines[0]["args_schema"]["properties"]["text"]["minLength"] == 1
    assert lines[0]["tags"] == ["kb"]
    assert "At most 3 steps run at once" in prompt


def test_system_prompt_without_tools_and_with_final_model() -> None:
    class Report(BaseModel):
        answer: str
        score: int

    prompt = build_system_prompt([], max_parallel=1, final_response_model=Report)
    assert "(no tools" in prompt and '"score"' in prompt


def test_hints_render() -> None:
    hints = PlanningHints(
        constraints="be brief",
        parallel_groups=[["a", "b"]],
        prefer_nodes=["a"],
        sequential_only=["c"],
    )
    text = hints.render()
    assert "Constraints: be brief" in text and "together in one parallel step: a, b" in text
    assert PlanningHints().render() == ""


def test_query_message_shows_context_only_when_given() -> None:
    assert "Context" not in query_message("q", None)["content"]
    assert '"lang":"fr"' in query_message("q", {"lang": "fr"})["content"]


def test_step_messages_and_digest() -> None:
    state = RunState(query="q")
    ok = state.add_step(
        kind="tool",
        action={"next_node": "search", "args": {"text": "a"}},
        observation={"value": "v"},
    )
    bad = state.add_step(
        kind="invalid_args",
        action={"next_node": "search", "args": {}},
        error="args.text: Field required",
    )
    assert step_messages(ok)[1]["content"] == 'Observation (step 1, search):\n{"value":"v"}'
    assert step_messages(bad)[1]["content"].startswith("Error (step 2, search): args.text")
    assert digest_step(ok) == '- step 1: search({"text":"a"}) -> {"value":"v"}'
    long = state.add_step(
        kind="tool",
        action={"next_node": "search", "args": {"text": "x" * 500}},
        observation="y" * 500,
    )
    assert len(digest_step(long)) < 400


def test_observations_render_as_compact_json_an_llm_can_read() -> None:
    class Point(BaseModel):
        x: int

    state = RunState(query="q")
    step = state.add_step(
        kind="tool",
        action={"next_node": "measure", "args": {}},
        observation={"city": "Zürich", "ratio": float("nan"), "at": Point(x=1), "when": {1}},
    )
    body = step_messages(step)[1]["content"].split("\n", 1)[1]
    assert json.loads(body) == {"city": "Zürich", "ratio": None, "at": {"x": 1}, "when": [1]}
    assert "Zürich" in body and " " not in body


def test_run_state_round_trip_and_metadata() -> None:
    state = RunState(query="q", llm_context={"a": 1}, tenant_id="t")
    state.add_step(kind="tool", action={"next_node": "s", "args": {}}, observation=[1])
    state.repairs.fixes["code_fence"] = 1
    state.extensions["pause"] = {"token_hash": "abc"}
    restored = RunState.model_validate_json(state.model_dump_json())
    assert restored == state
    meta = restored.metadata()
    assert meta["step_count"] == 1 and meta["run_id"] == state.run_id
    assert json.dumps(meta)  # JSON-friendly


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "teleport"}, "steps.0.kind"),
        ({"surprise": 1}, "steps.0.surprise"),
        ({"index": "first"}, "steps.0.index"),
    ],
)
def test_a_stored_run_with_a_malformed_step_is_refused(
    change: dict[str, object], problem: str
) -> None:
    state = RunState(query="q")
    state.add_step(kind="tool", action={"next_node": "s", "args": {}}, observation=[1])
    stored = json.loads(state.model_dump_json())
    stored["steps"][0].update(change)
    with pytest.raises(ValidationError) as caught:
        RunState.model_validate(stored)
    assert problem in str(caught.value)
