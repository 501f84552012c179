"""Native tool calling: what is sent, how replies are read, repairs, modes and fallbacks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from planner_helpers import (
    Found,
    PlannerFactory,
    Query,
    act,
    final,
    native_only,
    registry_for,
    tool_pairs,
)
from pydantic import BaseModel

from penguiflow import Node, tool
from penguiflow.errors import ConfigError
from penguiflow.planner import LLMResponse, PlannerEvent, ReactPlanner, ScriptedLLM, TestLLM
from penguiflow.planner.errors import LLMToolCallingError
from penguiflow.planner.llm_types import ToolCall, Usage
from penguiflow.planner.run_state import RunState
from penguiflow.planner.testing import FunctionLLM, tool_reply


def call(name: str, args: Any, call_id: str) -> ToolCall:
    return ToolCall(call_id, name, args if isinstance(args, str) else json.dumps(args))


def tool_messages(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


@native_only
async def test_the_catalog_is_sent_as_tools_and_results_come_back_by_call_id(
    make_planner: PlannerFactory,
) -> None:
    planner, llm = make_planner(
        [tool_reply(call("search", {"text": "penguins"}, "call_A"), text="Looking."), "South."]
    )
    result = await planner.run("where do penguins live?")
    assert result.reason == "answer_complete" and result.payload.raw_answer == "South."
    first = llm.requests[0]
    assert first.response_format is None and first.tool_choice is None
    assert first.tool_names == ["search", "summarise", "broken", "hang"]
    assert first.tools is planner.tools  # built once per planner
    search = first.tools[0]["function"]
    assert search["description"] == "Search the knowledge base"
    assert search["parameters"]["required"] == ["text"] and "title" not in search["parameters"]
    sent = llm.requests[1].messages
    assert sent[-2] == {
        "role": "assistant",
        "content": "Looking.",
        "tool_calls": [
            {
                "id": "call_A",
                "type": "function",
                "function": {"name": "search", "arguments": '{"text":"penguins"}'},
            }
        ],
    }
    assert sent[-1] == {
        "role": "tool",
        "tool_call_id": "call_A",
        "content": '{"value":"found:penguins:3"}',
    }
    step = result.metadata["steps"][0]
    assert step["action"]["call_ids"] == ["call_A"] and step["action"]["thought"] == "Looking."


@native_only
async def test_several_calls_of_one_reply_are_one_parallel_step(
    make_planner: PlannerFactory,
) -> None:
    running = peak = 0

    @tool(desc="Slowish lookup")
    async def slowish(args: Query, ctx: Any) -> Found:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Found(value=args.text)

    calls = [call("slowish", {"text": str(i)}, f"c{i}") for i in range(5)]
    planner, llm = make_planner(
        [tool_reply(*calls), "done"],
        nodes=[Node(slowish, name="slowish")],
        registry=registry_for(("slowish", Query, Found)),
        max_parallel=2,
    )
    result = await planner.run("q")
    [step] = result.metadata["steps"]
    assert step["kind"] == "parallel" and step["action"]["call_ids"] == [f"c{i}" for i in range(5)]
    assert step["observation"]["success_count"] == 5
    assert peak == 2  # bounded by max_parallel, none dropped
    results = tool_messages(llm.requests[1].messages)
    assert results == {
        f"c{i}": json.dumps({"value": str(i)}, separators=(",", ":")) for i in range(5)
    }
    assert result.metadata["budgets"]["hops"] == 5


@native_only
async def test_malformed_arguments_are_repaired_locally(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner(
        [tool_reply(call("search", "{'text': 'a', 'limit': 2,}", "c1")), "ok"]
    )
    result = await planner.run("q")
    assert result.metadata["steps"][0]["observation"] == {"value": "found:a:2"}
    repairs = result.metadata["repairs"]
    assert repairs["local_repairs"] == 1 and repairs["llm_repairs"] == 0
    assert repairs["fixes"]["tool_arguments"] == 1
    # the call goes back with the arguments as they were understood
    assert llm.requests[1].messages[-2]["tool_calls"][0]["function"]["arguments"] == (
        '{"text":"a","limit":2}'
    )


@native_only
async def test_undecodable_arguments_go_back_as_the_calls_results(
    make_planner: PlannerFactory,
) -> None:
    events: list[PlannerEvent] = []
    planner, llm = make_planner(
        [
            tool_reply(call("search", '{"text": "Par', "bad"), call("summarise", {}, "good")),
            tool_reply(call("search", {"text": "Paris"}, "fixed")),
            "Paris it is.",
        ],
        event_callback=events.append,
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    retry = llm.requests[1].messages
    results = tool_messages(retry)
    assert "not valid JSON" in results["bad"] and '{"text": "Par' in results["bad"]
    assert results["good"].startswith("Error, not run")  # nothing of the reply ran
    assert retry[-3]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert result.metadata["repairs"]["llm_repairs"] == 1
    assert [s["action"]["call_ids"] for s in result.metadata["steps"]] == [["fixed"]]
    assert result.metadata["budgets"]["iterations"] == 2  # the repair is not a decision
    assert [e.extra["stage"] for e in events if e.event_type == "repair_attempt"] == ["llm"]


@native_only
async def test_arguments_that_never_decode_end_with_no_path(make_planner: PlannerFactory) -> None:
    bad = tool_reply(call("search", "not json at all", "x"))
    planner, llm = make_planner([bad, bad, bad], repair_attempts=2)
    result = await planner.run("q")
    assert result.reason == "no_path"
    assert "no valid action after 2 repair attempt(s)" in result.metadata["error"]
    assert "not valid JSON" in result.metadata["error"]
    assert result.payload is not None and result.payload.partial
    assert len(llm.requests) == 3


@native_only
async def test_a_text_reply_is_the_answer_and_an_empty_one_is_repaired(
    make_planner: PlannerFactory,
) -> None:
    planner, llm = make_planner([LLMResponse(""), LLMResponse("  The answer.  ")])
    result = await planner.run("q")
    assert result.payload is not None and result.payload.raw_answer == "The answer."
    assert "neither text nor a tool call" in llm.requests[1].last_message
    assert result.metadata["repairs"]["llm_repairs"] == 1


class Report(BaseModel):
    answer: str
    score: int


@native_only
async def test_final_response_model_is_answered_through_its_tool(
    make_planner: PlannerFactory,
) -> None:
    planner, llm = make_planner(
        [
            "Score 4, I think.",  # text is not the typed answer
            tool_reply(call("final_response", {"answer": "x", "score": "high"}, "f1")),
            tool_reply(call("search", {"text": "a"}, "s1"), call("final_response", {}, "f2")),
            tool_reply(call("final_response", {"answer": "x", "score": 4}, "f3")),
        ],
        final_response_model=Report,
    )
    result = await planner.run("q")
    assert result.payload is not None and result.payload.structured == Report(answer="x", score=4)
    first = llm.requests[0]
    assert first.tool_names[-1] == "final_response" and first.tool_choice == "required"
    assert first.tools[-1]["function"]["parameters"]["required"] == ["answer", "score"]
    assert "call the final_response tool" in llm.requests[1].last_message
    assert "args.score" in tool_messages(llm.requests[2].messages)["f1"]
    assert "must be the only call" in tool_messages(llm.requests[3].messages)["s1"]
    assert result.metadata["steps"] == []  # nothing ran: every problem was repaired
    assert result.metadata["repairs"]["llm_repairs"] == 3


@native_only
async def test_unknown_tools_and_bad_arguments_are_observations(
    make_planner: PlannerFactory,
) -> None:
    planner, llm = make_planner(
        [
            tool_reply(call("teleport", {}, "t1")),
            tool_reply(call("search", {"limit": "many"}, "s1")),
            "giving up",
        ]
    )
    result = await planner.run("q")
    assert [s["kind"] for s in result.metadata["steps"]] == ["unknown_tool", "invalid_args"]
    results = tool_messages(llm.requests[2].messages)
    assert "unknown tool 'teleport'" in results["t1"] and "reply with text" in results["t1"]
    assert "args.text" in results["s1"] and "args.limit" in results["s1"]


@native_only
async def test_usage_and_cost_per_step_and_per_run(make_planner: PlannerFactory) -> None:
    events: list[PlannerEvent] = []
    planner, _ = make_planner(
        [
            tool_reply(call("search", "{", "x"), usage=Usage(50, 5), cost_usd=0.0005),
            tool_reply(call("search", {"text": "a"}, "a"), usage=Usage(100, 20), cost_usd=0.001),
            LLMResponse("done", usage=Usage(150, 10), cost_usd=0.002),
        ],
        event_callback=events.append,
    )
    result = await planner.run("q")
    [step] = result.metadata["steps"]
    # the step's usage includes the repaired reply that came before it
    assert step["usage"] == {
        "calls": 2,
        "prompt_tokens": 150,
        "completion_tokens": 25,
        "total_tokens": 175,
        "cost_usd": pytest.approx(0.0015),
    }
    assert result.metadata["usage"]["total_tokens"] == 335
    assert result.metadata["usage"]["cost_usd"] == pytest.approx(0.0035)
    completes = [e.extra for e in events if e.event_type == "step_complete"]
    assert [c["kind"] for c in completes] == ["tool", "final"]
    assert completes[0]["usage"] == step["usage"]
    assert completes[1]["usage"]["total_tokens"] == 160
    [finish] = [e for e in events if e.event_type == "finish"]
    assert finish.extra["usage"] == result.metadata["usage"]


@native_only
async def test_text_beside_tool_calls_streams_but_is_not_the_answer(
    make_planner: PlannerFactory,
) -> None:
    events: list[PlannerEvent] = []
    planner, _ = make_planner(
        [tool_reply(call("search", {"text": "a"}, "a"), text="Let me look."), "Found it."],
        event_callback=events.append,
        stream_final_response=True,
    )
    await planner.run("q")
    chunks = [e for e in events if e.event_type == "stream_chunk"]
    ends = [c for c in chunks if c.done]
    assert [c.extra["answer"] for c in ends] == [False, True]
    last_end = chunks.index(ends[0])
    assert "".join(c.text or "" for c in chunks[:last_end]) == "Let me look."
    assert "".join(c.text or "" for c in chunks[last_end + 1 : -1]) == "Found it."


@native_only
async def test_a_json_recorded_run_continues_in_native_mode(make_planner: PlannerFactory) -> None:
    json_planner, _ = make_planner([act("search", {"text": "a"})], max_iters=1, tool_mode="json")
    first = await json_planner.run("q", run_id="r1")
    state = RunState(query="q", run_id="r1")
    state.steps = RunState.model_validate({"query": "q", "steps": first.metadata["steps"]}).steps
    state.budgets.iterations = 1
    native, llm = make_planner([final("b")], max_iters=3)
    result = await native.run_from_state(RunState.model_validate_json(state.model_dump_json()))
    assert result.reason == "answer_complete"
    # the step has no provider id: one is made for it, and the call keeps its result
    assert tool_pairs(llm.requests[0].messages) == [("pf_1_0", "search")]


async def test_auto_follows_what_the_client_declares() -> None:
    replies = [final("x")]
    json_client = ScriptedLLM(replies)
    async with ReactPlanner(llm_client=json_client, catalog=[]) as planner:
        assert planner.tool_mode == "json" and planner.response_format is not None
        await planner.run("q")
    assert json_client.requests[0].tools is None
    native_client = ScriptedLLM(replies, tool_calling=True)
    async with ReactPlanner(llm_client=native_client, catalog=[]) as planner:
        assert planner.tool_mode == "native" and planner.response_format is None
        await planner.run("q")
    assert native_client.requests[0].tools == []
    assert ScriptedLLM([tool_reply(("x", {}))]).tool_calling is True  # inferred from the script
    assert TestLLM().tool_calling is True


async def test_auto_falls_back_to_json_once_and_remembers_it() -> None:
    rejection = LLMToolCallingError("tools are not supported", model="m", status_code=400)
    llm = ScriptedLLM([rejection, act("search", {"text": "a"}), final("one"), final("two")])
    llm.tool_calling = True
    from planner_helpers import basic_tools

    nodes, registry = basic_tools()
    async with ReactPlanner(llm_client=llm, nodes=nodes, registry=registry) as planner:
        first = await planner.run("q1")
        second = await planner.run("q2")
        assert planner.tool_mode == "json"
    assert first.reason == second.reason == "answer_complete"
    assert [r.tools is None for r in llm.requests] == [False, True, True, True]
    assert first.metadata["repairs"]["format_fallbacks"] == 1
    assert "native tool calls" in first.metadata["errors"][0]
    assert second.metadata["repairs"]["format_fallbacks"] == 0
    # the request after the fallback is written in JSON: strict schema, JSON system prompt
    assert llm.requests[1].response_format["json_schema"]["strict"] is True
    assert "next_node" in llm.requests[1].messages[0]["content"]


@native_only
async def test_native_mode_does_not_fall_back(make_planner: PlannerFactory) -> None:
    rejection = LLMToolCallingError("tools are not supported", model="m", status_code=400)
    planner, llm = make_planner([rejection])
    with pytest.raises(LLMToolCallingError):
        await planner.run("q")
    assert len(llm.requests) == 1


async def test_native_needs_a_client_that_takes_tools() -> None:
    class OldClient:
        async def complete(self, *, messages: Any, response_format: Any = None, **_: Any) -> str:
            return final()

    class TextOnly:
        async def complete(
            self,
            *,
            messages: Any,
            response_format: Any = None,
            stream: bool = False,
            on_stream_chunk: Any = None,
        ) -> str:
            return final()

    assert ReactPlanner(llm_client=OldClient(), catalog=[], tool_mode="native").tool_mode == (
        "native"
    )  # **kwargs takes tools
    with pytest.raises(ConfigError, match="tools= and tool_choice="):
        ReactPlanner(llm_client=TextOnly(), catalog=[], tool_mode="native")
    with pytest.raises(ConfigError, match="'auto', 'native' or 'json'"):
        ReactPlanner(llm_client=TextOnly(), catalog=[], tool_mode="tools")  # type: ignore[arg-type]
    planner = ReactPlanner(llm_client=TextOnly(), catalog=[])  # auto: JSON for such a client
    result = await planner.run("q")
    assert planner.tool_mode == "json" and result.reason == "answer_complete"


@native_only
async def test_a_reply_function_can_read_the_tools(make_planner: PlannerFactory) -> None:
    seen: list[Any] = []

    def reply(messages: list[dict[str, Any]], response_format: Any, tools: Any) -> Any:
        seen.append([t["function"]["name"] for t in tools])
        if messages[-1]["role"] == "tool":
            return "answered"
        return tool_reply((tools[0]["function"]["name"], {"text": "x"}))

    planner, _ = make_planner([], llm_client=FunctionLLM(reply, tool_calling=True))
    result = await planner.run("q")
    assert result.payload is not None and result.payload.raw_answer == "answered"
    assert seen[0] == ["search", "summarise", "broken", "hang"]


async def test_unpaired_tool_calls_are_refused_like_a_provider_would() -> None:
    from penguiflow.planner.errors import LLMBadRequestError

    llm = ScriptedLLM(["x"])
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [call("a", {}, "c1").to_message()]},
        {"role": "user", "content": "no result"},
    ]
    with pytest.raises(LLMBadRequestError, match="c1"):
        await llm.complete(messages=messages, tools=[])
    assert await llm.complete(messages=messages) == "x"  # JSON requests are not checked


@native_only
async def test_tool_names_providers_refuse_are_renamed_both_ways(
    make_planner: PlannerFactory,
) -> None:
    @tool(desc="Read a note")
    async def read(args: Query, ctx: Any) -> Found:
        return Found(value=f"note {args.text}")

    planner, llm = make_planner(
        [tool_reply(call("notes_read", {"text": "1"}, "c1")), "read it"],
        nodes=[Node(read, name="notes.read")],
        registry=registry_for(("notes.read", Query, Found)),
    )
    result = await planner.run("q")
    assert llm.requests[0].tool_names == ["notes_read"]  # OpenAI and Anthropic refuse dots
    assert result.metadata["steps"][0]["action"]["next_node"] == "notes.read"
    assert result.metadata["steps"][0]["observation"] == {"value": "note 1"}
    assert tool_pairs(llm.requests[1].messages) == [("c1", "notes_read")]


@native_only
async def test_a_resumed_request_keeps_the_providers_call_ids(
    hitl_store: Any, ledger: Any, db_url: str, tool_mode: str
) -> None:
    """Pause on a native call, resume with new objects: the ids the provider gave survive."""
    from hitl_helpers import build_planner

    from penguiflow.planner import PlannerPause
    from penguiflow.sessions import SqlSessionStore

    context = {"ledger": str(ledger.path)}
    refund_call = call("refund", {"order_id": 42, "cents": 500}, "call_provider_1")
    weather_call = call("weather", {"city": "Oslo"}, "call_provider_2")
    planner = build_planner(
        hitl_store, [tool_reply(refund_call, weather_call)], tool_mode=tool_mode
    )
    async with planner:
        pause = await planner.run("refund and weather", tool_context=context)
    assert isinstance(pause, PlannerPause) and ledger.count("weather") == 1
    async with SqlSessionStore(db_url) as store:  # as another process would
        resumed = build_planner(store, ["refunded"], tool_mode=tool_mode)
        async with resumed:
            result = await resumed.resume(pause.resume_token, approve=True, tool_context=context)
        sent = resumed.llm_client.requests[-1].messages  # type: ignore[attr-defined]
    assert result.reason == "answer_complete"  # type: ignore[union-attr]
    assert tool_pairs(sent) == [("call_provider_1", "refund"), ("call_provider_2", "weather")]
    assert '"refunded":500' in tool_messages(sent)["call_provider_1"]


def test_tool_names_that_clash_once_renamed_stay_apart() -> None:
    from penguiflow.planner._native import ToolNames

    names = ToolNames(["notes.read", "notes_read", "plain", "x" * 80])
    assert [names.wire(n) for n in ("notes.read", "notes_read", "plain")] == [
        "notes_read",
        "notes_read_2",
        "plain",
    ]
    assert names.catalog("notes_read_2") == "notes_read" and names.catalog("notes_read") == (
        "notes.read"
    )
    assert len(names.wire("x" * 80)) == 64
    assert names.catalog("unknown") == "unknown" and names.wire("unknown") == "unknown"


@native_only
async def test_tool_choice_forces_a_tool_until_the_first_step(
    make_planner: PlannerFactory,
) -> None:
    planner, llm = make_planner(
        [
            tool_reply(call("search", {"text": "a"}, "c1")),
            tool_reply(call("search", {"text": "b"}, "c2")),
            "done",
        ],
        tool_choice="search",
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    forced = {"type": "function", "function": {"name": "search"}}
    # forced for the first decision only, so that the run can finish
    assert [r.tool_choice for r in llm.requests] == [forced, None, None]


@native_only
async def test_a_forced_tool_with_a_typed_answer_goes_back_to_required(
    make_planner: PlannerFactory,
) -> None:
    class Report(BaseModel):
        answer: str

    planner, llm = make_planner(
        [
            tool_reply(call("search", {"text": "a"}, "c1")),
            tool_reply(call("final_response", {"answer": "ok"}, "c2")),
        ],
        tool_choice="required",
        final_response_model=Report,
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete" and result.payload.structured == Report(answer="ok")
    assert [r.tool_choice for r in llm.requests] == ["required", "required"]


@pytest.mark.parametrize("choice", ["nope", "final_response", "auto"])
async def test_tool_choice_must_name_a_tool(choice: str) -> None:
    nodes, registry = [Node(search_tool, name="search")], registry_for(("search", Query, Found))
    with pytest.raises(ConfigError, match=r"tool_choice=\.\.\.\) must be None, 'required'"):
        ReactPlanner(llm_client=ScriptedLLM([]), nodes=nodes, registry=registry, tool_choice=choice)


@tool(desc="Search")
async def search_tool(args: Query, ctx: Any) -> Found:
    return Found(value=args.text)
