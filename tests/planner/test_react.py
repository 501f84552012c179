from __future__ import annotations

import json
from typing import Any

import pytest
from planner_helpers import PlannerFactory, act, basic_tools, final, json_only
from pydantic import BaseModel

from penguiflow import build_catalog
from penguiflow.errors import ConfigError
from penguiflow.planner.errors import PlannerClosedError, RunStateError
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.run_state import RunState
from penguiflow.planner.testing import ScriptedLLM


async def test_tool_then_answer(make_planner: PlannerFactory, tool_mode: str) -> None:
    planner, llm = make_planner([act("search", {"text": "penguins", "limit": 2}), final("south")])
    result = await planner.run("where do penguins live?", llm_context={"user": "ann"})
    assert result.reason == "answer_complete"
    assert result.payload is not None and result.payload.raw_answer == "south"
    steps = result.metadata["steps"]
    assert [s["kind"] for s in steps] == ["tool"]
    assert steps[0]["observation"] == {"value": "found:penguins:2"}
    # the LLM saw the tools, the query, the context and then the observation
    first = llm.requests[0].messages
    assert first[0]["role"] == "system"
    if tool_mode == "json":
        assert "search" in first[0]["content"] and llm.requests[0].tools is None
    else:
        assert "search" in llm.requests[0].tool_names
    assert (
        "where do penguins live?" in first[1]["content"] and '"user":"ann"' in first[1]["content"]
    )
    assert '{"value":"found:penguins:2"}' in llm.requests[1].last_message
    assert result.metadata["usage"]["calls"] == 2
    assert result.metadata["budgets"]["hops"] == 1


@json_only
async def test_answer_with_sources_and_confidence(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([final("x", sources=["a"], confidence=0.7)])
    result = await planner.run("q")
    assert result.payload is not None
    assert (result.payload.sources, result.payload.confidence) == (["a"], 0.7)


@json_only
async def test_strict_schema_is_sent_and_built_once(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([final(), final()])
    await planner.run("q1")
    await planner.run("q2")
    formats = [r.response_format for r in llm.requests]
    assert formats[0]["json_schema"]["strict"] is True
    assert formats[0] is formats[1]  # the same object: built once per catalog


@json_only
async def test_malformed_json_is_repaired_locally(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner(
        ["Sure!\n```json\n{'next_node': 'final_response', 'args': {'answer': 'ok',},}\n```"]
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    repairs = result.metadata["repairs"]
    assert repairs["local_repairs"] == 1 and repairs["llm_repairs"] == 0
    assert "code_fence" in repairs["fixes"]
    assert len(llm.requests) == 1


@json_only
async def test_llm_repair_states_the_validation_error(make_planner: PlannerFactory) -> None:
    events: list[Any] = []
    planner, llm = make_planner(
        [
            "I think the answer is 42.",
            act("final_response", {"confidence": 0.5}),
            final("42"),
        ],
        event_callback=events.append,
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete" and result.payload.raw_answer == "42"
    assert result.metadata["repairs"]["llm_repairs"] == 2
    assert "not valid JSON" in llm.requests[1].last_message
    assert "args.answer: Field required" in llm.requests[2].last_message
    # the bad reply is echoed back so the model sees what to fix
    assert llm.requests[2].messages[-2] == {
        "role": "assistant",
        "content": act("final_response", {"confidence": 0.5}),
    }
    stages = [e.extra.get("stage") for e in events if e.event_type == "repair_attempt"]
    assert stages == ["llm", "llm"]
    assert result.metadata["budgets"]["iterations"] == 1  # repairs are not decisions


@json_only
async def test_repair_ladder_exhausted_is_no_path(make_planner: PlannerFactory) -> None:
    planner, _llm = make_planner(["nope", "still nope", '{"next_node": 3}'], repair_attempts=2)
    result = await planner.run("q")
    assert result.reason == "no_path"
    assert "no valid action after 2 repair attempt(s)" in result.metadata["error"]
    assert "next_node" in result.metadata["error"]
    assert result.metadata["repairs"]["exhausted"] == 1
    assert result.payload is not None and result.payload.partial
    assert "nope" not in result.payload.raw_answer  # never the raw model text


async def test_unknown_tool_observation_lists_valid_names(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([act("teleport", {}), final()])
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    assert step["kind"] == "unknown_tool"
    assert "unknown tool 'teleport'" in step["error"]
    assert "broken, hang, search, summarise" in step["error"]
    assert (
        "teleport" in llm.requests[1].last_message and "valid tools" in llm.requests[1].last_message
    )
    assert result.metadata["repairs"]["unknown_tool"] == 1


async def test_bad_args_observation_has_field_errors(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner(
        [act("search", {"text": "", "limit": "many"}), act("search", {"text": "ok"}), final()]
    )
    result = await planner.run("q")
    step = result.metadata["steps"][0]
    assert step["kind"] == "invalid_args"
    assert "args.text" in step["error"] and "args.limit" in step["error"]
    assert "args.limit" in llm.requests[1].last_message
    assert result.metadata["steps"][1]["kind"] == "tool"
    assert result.metadata["repairs"]["invalid_args"] == 1
    assert result.metadata["repairs"]["arg_failure_streak"] == 0


async def test_repeated_bad_args_end_the_run(make_planner: PlannerFactory) -> None:
    bad = act("search", {"limit": 1})
    planner, llm = make_planner(
        [bad, bad, act("teleport"), bad, bad, bad], max_consecutive_arg_failures=3, max_iters=10
    )
    result = await planner.run("q")
    assert result.reason == "no_path"
    assert "failed argument validation 3 times in a row" in result.metadata["error"]
    assert len(result.metadata["steps"]) == 6
    assert llm.remaining == 0


async def test_null_optional_args_from_strict_schema_use_defaults(
    make_planner: PlannerFactory,
) -> None:
    planner, _ = make_planner([act("search", {"text": "a", "limit": None}), final()])
    result = await planner.run("q")
    assert result.metadata["steps"][0]["observation"] == {"value": "found:a:3"}


async def test_final_response_model(make_planner: PlannerFactory) -> None:
    class Report(BaseModel):
        answer: str
        score: int

    planner, llm = make_planner(
        [
            act("final_response", {"answer": "x", "score": "high"}),
            act("final_response", {"answer": "x", "score": 4}),
        ],
        final_response_model=Report,
    )
    result = await planner.run("q")
    assert result.payload is not None
    assert result.payload.structured == Report(answer="x", score=4)
    assert result.payload.raw_answer == "x"
    assert "args.score" in llm.requests[-1].last_message


@json_only
async def test_older_shape_is_accepted(make_planner: PlannerFactory) -> None:
    older = json.dumps({"thought": "done", "next_node": None, "args": {"raw_answer": "legacy"}})
    planner, _ = make_planner([older])
    result = await planner.run("q")
    assert result.payload is not None and result.payload.raw_answer == "legacy"


async def test_disallowed_tool_is_refused(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner(
        [act("broken", {"text": "x"}), final()], planning_hints={"disallow_nodes": ["broken"]}
    )
    result = await planner.run("q")
    step = result.metadata["steps"][0]
    assert step["kind"] == "rejected" and "may not be called" in step["error"]
    assert "Do not call: broken" in planner.system_prompt


async def test_system_prompt_extra_and_hints(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner(
        [],
        system_prompt_extra="Answer in French.",
        planning_hints={"ordering_hints": ["search", "summarise"]},
    )
    assert planner.system_prompt.endswith("Answer in French.")
    assert "search -> summarise" in planner.system_prompt


async def test_run_state_round_trips_and_continues(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([act("search", {"text": "a"}), final("b")], max_iters=1)
    first = await planner.run("q", run_id="run-1", tenant_id="acme")
    assert first.reason == "no_path" and first.metadata["budget"] == "max_iters"
    # rebuild the state from JSON as a store would, then continue with a larger budget
    state = RunState(query="q", run_id="run-1", tenant_id="acme")
    state.steps = [
        s for s in RunState.model_validate({"query": "q", "steps": first.metadata["steps"]}).steps
    ]
    state.budgets.iterations = 1
    restored = RunState.model_validate_json(state.model_dump_json())
    larger, _ = make_planner([final("b")], max_iters=2)  # another planner continues it
    second = await larger.run_from_state(restored)
    assert second.reason == "answer_complete"
    assert second.metadata["run_id"] == "run-1"
    assert second.metadata["step_count"] == 1


async def test_newer_state_version_is_refused(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([])
    with pytest.raises(RunStateError, match="version 99"):
        await planner.run_from_state(RunState(query="q", version=99))


async def test_closed_planner_refuses_runs(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([])
    await planner.aclose()
    with pytest.raises(PlannerClosedError):
        await planner.run("q")


async def test_llm_errors_propagate(make_planner: PlannerFactory) -> None:
    from penguiflow.planner.errors import LLMAuthError

    planner, _ = make_planner([LLMAuthError("bad key", model="m", status_code=401)])
    with pytest.raises(LLMAuthError):
        await planner.run("q")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "needs an LLM"),
        ({"llm": "openai/x", "llm_client": ScriptedLLM([])}, "both llm"),
        ({"llm_client": object()}, "complete"),
        ({"llm": 3}, "model string"),
        ({"llm": {"temperature": 0}}, "'model'"),
        ({"llm_client": ScriptedLLM([]), "nodes": []}, "registry"),
        ({"llm_client": ScriptedLLM([])}, "needs tools"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "nodes": []}, "not both|together"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "max_iters": 0}, "max_iters"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "deadline_s": -1}, "deadline_s"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "deadline_s": float("nan")}, "deadline_s"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "token_budget": 0}, "token_budget"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "hop_budget": -1}, "hop_budget"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "max_parallel": 0}, "max_parallel"),
        (
            {"llm_client": ScriptedLLM([]), "catalog": [], "repair_attempts": True},
            "repair_attempts",
        ),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "temperature": 5}, "temperature"),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "final_response_model": dict}, "BaseModel"),
        (
            {"llm_client": ScriptedLLM([]), "catalog": [], "planning_hints": {"bogus": 1}},
            "planning_hints",
        ),
        ({"llm_client": ScriptedLLM([]), "catalog": [], "event_callback": 3}, "event_callback"),
    ],
)
def test_config_errors(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ReactPlanner(**kwargs)


def test_reserved_tool_names_are_refused() -> None:
    nodes, registry = basic_tools()
    specs = build_catalog(nodes, registry)
    object.__setattr__(specs[0], "name", "parallel")
    with pytest.raises(ConfigError, match="reserved"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=specs)


def test_llm_string_builds_a_litellm_client() -> None:
    planner = ReactPlanner("openai/gpt-4o-mini", catalog=[], temperature=0.3)
    assert type(planner.llm_client).__name__ == "LiteLLMClient"


async def test_run_argument_errors(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([])
    with pytest.raises(ConfigError, match="non-empty"):
        await planner.run("  ")
    with pytest.raises(ConfigError, match="JSON-serialisable"):
        await planner.run("q", llm_context={"client": object()})


async def test_usage_and_cost_are_summed(make_planner: PlannerFactory) -> None:
    from penguiflow.planner.llm_types import LLMResponse, Usage

    replies = [
        LLMResponse(act("search", {"text": "a"}), Usage(100, 20), cost_usd=0.001),
        LLMResponse(final(), Usage(150, 10), cost_usd=0.002),
    ]
    planner, _ = make_planner(replies)
    result = await planner.run("q")
    usage = result.metadata["usage"]
    assert usage == {
        "calls": 2,
        "prompt_tokens": 250,
        "completion_tokens": 30,
        "total_tokens": 280,
        "cost_usd": pytest.approx(0.003),
        "formats": {"native" if planner.tool_mode == "native" else "strict": 2},
    }


async def test_a_finished_run_is_freed_without_the_cycle_collector(
    make_planner: PlannerFactory,
) -> None:
    """Runs leave no reference cycles: under load the GC would otherwise trace every one."""
    import gc

    planner, _ = make_planner([act("search", {"text": "a"}), final("a")] * 2)
    await planner.run("warm up")  # starts the tool flow
    while gc.collect():  # earlier tests' event loops can take more than one pass to free
        pass
    gc.disable()
    try:
        result = await planner.run("q")
        assert result.reason == "answer_complete"
        del result
        assert gc.collect() == 0
    finally:
        gc.enable()


@json_only
async def test_the_prompts_templates_cannot_pass_for_an_answer(
    make_planner: PlannerFactory,
) -> None:
    planner, _ = make_planner([final("Paris")])
    shape = next(line for line in planner.system_prompt.splitlines() if "final_response" in line)
    copied = shape[shape.index("ARGS is ") + len("ARGS is ") :].split(" (optional")[0]
    events: list[Any] = []
    planner, _ = make_planner(
        [
            '{"thought": "...", "next_node": "final_response", "args": ' + copied + "}",
            act("final_response", {"answer": "<the answer for the user>"}),
            final("Paris"),
        ],
        event_callback=events.append,
    )
    result = await planner.run("capital of France?")
    assert result.reason == "answer_complete" and result.payload.raw_answer == "Paris"
    errors = [e.error for e in events if e.event_type == "repair_attempt"]
    assert len(errors) == 2 and "placeholder copied from the instructions" in errors[1]
