"""The code-first Agent: tools from functions, run/resume/run_sync, override, memory, store."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from planner_helpers import act, final
from pydantic import BaseModel

import penguiflow
from penguiflow import Agent, PlannerFinish, PlannerPause, tool
from penguiflow.errors import ConfigError
from penguiflow.memory import ShortTermMemoryConfig
from penguiflow.planner import FunctionLLM, ScriptedLLM, TestLLM, ToolContext, ToolPolicy
from penguiflow.planner.errors import AgentStateError
from penguiflow.sessions import PauseNotFoundError
from penguiflow.tools import ExternalToolConfig, ToolNode

DEMO_SERVER = Path(__file__).resolve().parents[1] / "tools" / "servers" / "demo_server.py"


@tool(side_effects="read")
async def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"sunny in {city}"


@tool(desc="Refund an order", side_effects="write", requires_approval=True)
async def refund(order_id: str, ctx: ToolContext) -> str:
    calls = ctx.tool_context["calls"] if ctx.tool_context else []
    calls.append(order_id)
    return f"refunded {order_id}"


class Verdict(BaseModel):
    city: str
    warm: bool


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def test_the_agent_entry_points_are_importable_from_the_package_root() -> None:
    from penguiflow import planner

    for name in ("Agent", "ReactPlanner", "PlannerFinish", "PlannerPause", "ToolContext"):
        assert getattr(penguiflow, name) is getattr(planner, name)
        assert name in penguiflow.__all__


async def test_hello_agent_runs_offline_with_the_test_model() -> None:
    async with Agent("test", tools=[get_weather]) as agent:
        result = await agent.run("Weather in Paris?")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    [step] = result.metadata["steps"]
    assert step["action"]["next_node"] == "get_weather"
    assert step["observation"].startswith("sunny in ")
    assert not agent.is_open


async def test_the_test_model_calls_only_the_tools_a_policy_leaves(tool_mode: str) -> None:
    calls: list[str] = []

    @tool
    async def lookup(city: str) -> str:
        """Look a city up."""
        calls.append(city)
        return "looked up"

    hidden = ToolPolicy(denied_tools={"lookup"})
    async with Agent("test", tools=[get_weather, lookup], tool_mode=tool_mode) as agent:
        result = await agent.run("Weather in Paris?", tool_policy=hidden)
        kinds = [step["kind"] for step in result.metadata["steps"]]
        assert [step["action"]["next_node"] for step in result.metadata["steps"]] == ["get_weather"]
        assert kinds == ["tool"] and calls == []
        result = await agent.run("Weather in Paris?")  # no policy: both tools
    assert [step["action"]["next_node"] for step in result.metadata["steps"]] == [
        "get_weather",
        "lookup",
    ]
    assert len(calls) == 1


async def test_instructions_and_tools_reach_the_model() -> None:
    llm = ScriptedLLM([act("get_weather", {"city": "Oslo"}), final("It is sunny in Oslo.")])
    agent = Agent(llm_client=llm, tools=[get_weather], instructions="Answer like a pirate.")
    async with agent:
        result = await agent.run("Weather in Oslo?")
        assert [spec.name for spec in agent.catalog] == ["get_weather"]
    assert isinstance(result, PlannerFinish)
    assert result.payload is not None and result.payload.raw_answer == "It is sunny in Oslo."
    system = llm.requests[0].messages[0]["content"]
    assert "Answer like a pirate." in system and "get_weather" in system
    assert "sunny in Oslo" in str(llm.requests[1].messages)


async def test_a_run_opens_the_agent_and_aclose_closes_it() -> None:
    agent = Agent(llm_client=ScriptedLLM([final("one"), final("two")]), tools=[get_weather])
    assert not agent.is_open
    first = await agent.run("first")
    assert agent.is_open
    await agent.aclose()
    await agent.aclose()  # twice is fine
    assert not agent.is_open
    second = await agent.run("second")  # opens again
    await agent.aclose()
    assert [r.payload.raw_answer for r in (first, second)] == ["one", "two"]  # type: ignore[union-attr]


def test_run_sync_opens_runs_and_closes() -> None:
    agent = Agent(llm_client=ScriptedLLM([final("sync answer")]), tools=[get_weather])
    result = agent.run_sync("hello")
    assert isinstance(result, PlannerFinish) and result.payload is not None
    assert result.payload.raw_answer == "sync answer"
    assert not agent.is_open


async def test_run_sync_refuses_to_run_inside_an_event_loop() -> None:
    agent = Agent(llm_client=ScriptedLLM([final()]))
    with pytest.raises(AgentStateError, match=r"inside a running event loop.*await agent.run"):
        agent.run_sync("hello")


def test_an_agent_open_in_one_loop_cannot_run_in_another() -> None:
    agent = Agent(llm_client=ScriptedLLM([final(), final()]))
    asyncio.run(agent.start())
    try:
        with pytest.raises(AgentStateError, match="opened in another event loop"):
            asyncio.run(agent.run("hello"))
        with pytest.raises(AgentStateError, match="it is open"):
            agent.run_sync("hello")
    finally:
        asyncio.run(agent.aclose())


# -- override ----------------------------------------------------------------------------


async def test_override_swaps_the_model_and_restores_the_previous_one() -> None:
    base = ScriptedLLM([final("base")])
    outer = ScriptedLLM([final("outer"), final("outer again")])
    inner = ScriptedLLM([final("inner")])
    async with Agent(llm_client=base) as agent:
        with agent.override(llm=outer):
            assert (await agent.run("q")).payload.raw_answer == "outer"  # type: ignore[union-attr]
            with agent.override(llm=inner):
                assert (await agent.run("q")).payload.raw_answer == "inner"  # type: ignore[union-attr]
            assert (await agent.run("q")).payload.raw_answer == "outer again"  # type: ignore[union-attr]
        assert (await agent.run("q")).payload.raw_answer == "base"  # type: ignore[union-attr]
    assert (base.remaining, outer.remaining, inner.remaining) == (0, 0, 0)


async def test_an_override_is_seen_only_in_its_own_context() -> None:
    async with Agent(llm_client=ScriptedLLM([final("base")])) as agent:

        async def overridden() -> str:
            with agent.override(llm=FunctionLLM(lambda messages, fmt: final("task"))):
                await asyncio.sleep(0)
                result = await agent.run("q")
                return result.payload.raw_answer  # type: ignore[union-attr]

        task = asyncio.create_task(overridden())
        plain = await agent.run("q")
        assert await task == "task"
        assert plain.payload.raw_answer == "base"  # type: ignore[union-attr]


async def test_an_agent_without_a_model_runs_under_an_override_only() -> None:
    async with Agent(tools=[get_weather]) as agent:
        with pytest.raises(ConfigError, match=r"has no model.*agent.override"):
            await agent.run("hello")
        with agent.override(llm="test"):
            result = await agent.run("hello")
        with agent.override(llm=TestLLM(agent.catalog, final_answer="from TestLLM")):
            again = await agent.run("hello")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert again.payload.raw_answer == "from TestLLM"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="takes an LLM client"):
        with agent.override(llm=42):
            pass


async def test_an_override_may_name_a_litellm_model() -> None:
    async with Agent(llm_client=ScriptedLLM([])) as agent:
        with agent.override(llm="openai/gpt-4o-mini"):
            assert agent.planner.llm_client.model == "openai/gpt-4o-mini"
        assert getattr(agent.planner.llm_client, "model", None) is None  # ScriptedLLM again


# -- memory, store, approvals, structured output -----------------------------------------


async def test_a_session_remembers_earlier_turns_by_default() -> None:
    llm = ScriptedLLM([final("Nice to meet you, Ada."), final("You are Ada.")])
    async with Agent(llm_client=llm) as agent:
        await agent.run("My name is Ada.", session_id="s1")
        await agent.run("Who am I?", session_id="s1")
    assert "My name is Ada." in str(llm.requests[1].messages)


@pytest.mark.parametrize("memory", [False, ShortTermMemoryConfig(strategy="none")])
async def test_memory_can_be_turned_off(memory: Any) -> None:
    llm = ScriptedLLM([final("hi"), final("who?")])
    async with Agent(llm_client=llm, memory=memory) as agent:
        await agent.run("My name is Ada.", session_id="s1")
        await agent.run("Who am I?", session_id="s1")
    assert "My name is Ada." not in str(llm.requests[1].messages)


async def test_sessions_of_different_users_do_not_share_memory() -> None:
    llm = ScriptedLLM([final("ok"), final("ok")])
    async with Agent(llm_client=llm) as agent:
        await agent.run("My name is Ada.", session_id="s1", user_id="ada")
        await agent.run("Who am I?", session_id="s1", user_id="bob")
    assert "My name is Ada." not in str(llm.requests[1].messages)


async def test_an_approval_pauses_in_the_store_and_resumes_once(migrated_sqlite_url: str) -> None:
    llm = ScriptedLLM([act("refund", {"order_id": "A-1"}), final("Refunded A-1.")])
    calls: list[str] = []
    async with Agent(llm_client=llm, tools=[refund], store=migrated_sqlite_url) as agent:
        paused = await agent.run("Refund A-1", tool_context={"calls": calls}, tenant_id="acme")
        assert isinstance(paused, PlannerPause) and calls == []
        assert paused.pending_calls[0].args == {"order_id": "A-1"}
        with pytest.raises(PauseNotFoundError, match="another tenant"):  # the default tenant's
            await agent.resume(paused.resume_token, approve=True)
        result = await agent.resume(
            paused.resume_token, approve=True, tenant_id="acme", tool_context={"calls": calls}
        )
        store = agent.store
    assert isinstance(result, PlannerFinish) and calls == ["A-1"]
    assert store.state.value == "closed"  # the agent opened it, so it closed it


async def test_a_store_object_is_used_and_left_open(migrated_sqlite_url: str) -> None:
    from penguiflow.sessions import SqlSessionStore

    async with SqlSessionStore(migrated_sqlite_url) as store:
        agent = Agent(llm_client=ScriptedLLM([final()]), store=store)
        async with agent:
            result = await agent.run("hello", run_id="run-1")
        assert store.state.value == "open"
        record = await store.get_run("run-1")
        assert record.status.value == "finished" and isinstance(result, PlannerFinish)


async def test_a_tool_needing_approval_needs_a_store() -> None:
    agent = Agent(llm_client=ScriptedLLM([]), tools=[refund])
    with pytest.raises(ConfigError, match="state_store"):
        await agent.start()
    assert not agent.is_open


async def test_output_type_makes_the_answer_structured() -> None:
    answer = {"answer": "Lisbon is warm", "city": "Lisbon", "warm": True}
    llm = ScriptedLLM([act("final_response", answer)])
    async with Agent(llm_client=llm, output_type=Verdict) as agent:
        result = await agent.run("Is Lisbon warm?")
    assert isinstance(result, PlannerFinish) and result.payload is not None
    assert result.payload.structured == Verdict(city="Lisbon", warm=True)


# -- MCP servers: the agent closes what it opened -----------------------------------------


def _demo_server(**overrides: Any) -> ExternalToolConfig:
    return ExternalToolConfig.from_dict(
        {
            "name": "demo",
            "transport": "mcp",
            "connection": [sys.executable, str(DEMO_SERVER)],
            "allow": ["pid", "add"],
            **overrides,
        }
    )


def _pid_of(result: Any) -> int:
    [step] = result.metadata["steps"]
    found = re.search(r"\d+", json.dumps(step["observation"]))  # the tool's only number
    assert found is not None, step
    return int(found.group())


async def test_the_agent_stops_the_mcp_server_it_started() -> None:
    llm = ScriptedLLM([act("demo.pid", {}), final("done")])
    async with Agent(llm_client=llm, tools=[get_weather, _demo_server()]) as agent:
        assert [spec.name for spec in agent.catalog] == ["get_weather", "demo.add", "demo.pid"]
        pid = _pid_of(await agent.run("which pid?"))
        assert alive(pid)
    assert not alive(pid)  # stopped and reaped before the `async with` ended


async def test_concurrent_first_runs_open_the_agent_once() -> None:
    agent = Agent("test", tools=[_demo_server(allow=["pid"])])
    try:
        first, second = await asyncio.gather(agent.run("one"), agent.run("two"))
        assert _pid_of(first) == _pid_of(second)  # one server, started once
    finally:
        await agent.aclose()
    assert not alive(_pid_of(first))


async def test_nested_async_with_closes_at_the_outermost_exit() -> None:
    agent = Agent(llm_client=ScriptedLLM([final(), final()]))
    async with agent:
        async with agent:
            await agent.run("inner")
        assert agent.is_open
        await agent.run("outer")
    assert not agent.is_open


async def test_a_connected_tool_node_is_used_and_left_running() -> None:
    async with ToolNode(_demo_server()) as node:
        llm = ScriptedLLM([act("demo.pid", {}), final("done")])
        async with Agent(llm_client=llm, tools=[node]) as agent:
            pid = _pid_of(await agent.run("which pid?"))
        assert alive(pid) and (await node.call("add", {"a": 1, "b": 2})).text == "3"


async def test_an_unconnected_tool_node_is_refused() -> None:
    node = ToolNode(_demo_server())
    with pytest.raises(ConfigError, match=r"connect it first.*ExternalToolConfig"):
        await Agent(llm_client=ScriptedLLM([]), tools=[node]).start()


# -- from_file merges with code options -----------------------------------------------------


def test_from_file_returns_an_agent_and_code_options_win(tmp_path: Path) -> None:
    (tmp_path / "file_tools.py").write_text(
        'async def shout(text: str) -> str:\n    """Shout the text."""\n    return text.upper()\n'
    )
    (tmp_path / "agent.toml").write_text(
        'name = "filed"\nsystem_prompt = "From the file."\ntenant = "acme"\n'
        '[model]\nname = "openai/gpt-4o-mini"\nparams = { api_base = "http://127.0.0.1:9/v1" }\n'
        "[planner]\nmax_iters = 5\nstream = false\n"
        '[[tools]]\ntype = "python"\npath = "file_tools:shout"\n'
    )
    llm = ScriptedLLM([act("shout", {"text": "hi"}), act("get_weather", {"city": "Rome"})])
    agent = Agent.from_file(
        tmp_path / "agent.toml",
        llm_client=llm,
        tools=[get_weather],
        instructions="From the code.",
        max_iters=2,
        store=None,
    )
    assert isinstance(agent, Agent) and agent.name == "filed" and agent.tenant_id == "acme"
    result = agent.run_sync("go")
    assert isinstance(result, PlannerFinish) and result.reason == "no_path"  # max_iters
    assert [s["action"]["next_node"] for s in result.metadata["steps"]] == ["shout", "get_weather"]
    system = llm.requests[0].messages[0]["content"]
    assert "From the code." in system and "From the file." not in system


async def test_from_file_model_keeps_the_file_params(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(
        '[model]\nname = "openai/a"\nparams = { api_base = "http://127.0.0.1:9/v1" }\n'
    )
    agent = Agent.from_file(tmp_path / "agent.toml", model="openai/b")
    assert agent.model_name == "openai/b"
    assert agent.store_url == "sqlite+aiosqlite:///penguiflow.sqlite3"  # the file's default
    store = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    async with Agent.from_file(tmp_path / "agent.toml", model="openai/b", store=store) as agent:
        client = repr(agent.planner.llm_client)
    assert "model='openai/b'" in client and "http://127.0.0.1:9/v1" in client


def test_the_old_store_url_option_still_works_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('[model]\nname = "openai/a"\n')
    with pytest.warns(DeprecationWarning, match="use store="):
        agent = Agent.from_file(tmp_path / "agent.toml", store_url="sqlite+aiosqlite:///x.db")
    assert agent.store_url == "sqlite+aiosqlite:///x.db"


# -- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"model": "openai/x", "llm_client": ScriptedLLM([])}, "not both"),
        ({"model": 3}, "must be a LiteLLM model string"),
        ({"model": {"api_base": "http://x"}}, "needs a 'model' key"),
        ({"llm_client": object()}, "async complete"),
        ({"tools": get_weather}, "takes a list of tools"),
        ({"tools": [42]}, r"tools\[0\] is a int"),
        ({"memory": "yes"}, "takes True"),
        ({"store": 5}, "database URL"),
        ({"output_type": dict}, "BaseModel subclass"),
        ({"max_iter": 3}, r"unknown option 'max_iter'.*max_iters"),
        ({"system_prompt_extra": "x"}, "pass instructions="),
        ({"catalog": []}, "pass tools="),
        ({"instructions": ""}, "non-empty string"),
    ],
)
def test_bad_arguments_say_how_to_fix_them(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Agent(**kwargs)


def test_a_bad_tool_signature_fails_when_the_agent_is_built() -> None:
    def untyped(city):  # type: ignore[no-untyped-def]
        return city

    with pytest.raises(TypeError, match="'city' has no type annotation"):
        Agent("test", tools=[untyped])


def test_planner_options_pass_through() -> None:
    agent = Agent(llm_client=ScriptedLLM([act("get_weather", {"city": "x"})] * 3), max_iters=1)
    result = agent.run_sync("go")
    assert isinstance(result, PlannerFinish) and result.reason == "no_path"  # max_iters


def test_an_agent_dropped_while_open_warns() -> None:
    agent = Agent(llm_client=ScriptedLLM([final()]))
    runner = asyncio.Runner()
    with runner:
        runner.run(agent.run("hello"))
        with pytest.warns(ResourceWarning, match="was not closed"):
            agent.__del__()
        runner.run(agent.aclose())
