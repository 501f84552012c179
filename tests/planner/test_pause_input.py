"""``await ctx.pause(...)`` inside a tool: await_input round trips (SQLite + PG)."""

from __future__ import annotations

from typing import Any

import pytest
from hitl_helpers import Ledger, act, build_planner, current_mode, final

from penguiflow import Node, tool
from penguiflow.planner import PlannerFinish, PlannerPause, ReactPlanner, ScriptedLLM, ToolContext
from penguiflow.planner.errors import ResumeDecisionError, StateStoreRequiredError

pytestmark = pytest.mark.usefixtures("planner_mode")  # each test runs in both tool modes


async def test_await_input_round_trip(hitl_store: Any, ledger: Ledger) -> None:
    context = {"ledger": str(ledger.path)}
    planner = build_planner(hitl_store, [act("ask_city", {"city": "Springfield"})])
    async with planner:
        pause = await planner.run("weather in Springfield?", tool_context=context)
    assert isinstance(pause, PlannerPause)
    assert pause.reason == "await_input"
    assert pause.payload == {"question": "Which Springfield do you mean?"}
    [call] = pause.pending_calls
    assert (call.kind, call.tool, call.payload) == ("input", "ask_city", pause.payload)
    assert ledger.count("ask_city") == 1
    planner = build_planner(hitl_store, [final("Springfield, Illinois")])
    async with planner:
        with pytest.raises(ResumeDecisionError, match="user_input"):
            await planner.resume(pause.resume_token, approve=True)
        result = await planner.resume(
            pause.resume_token, user_input={"state": "Illinois"}, tool_context=context
        )
    assert isinstance(result, PlannerFinish)
    [step] = result.metadata["steps"]
    assert step["kind"] == "tool"
    assert step["observation"] == {"state": "Illinois"}
    assert ledger.count("ask_city") == 1  # the tool is not called again


async def test_declining_to_answer(hitl_store: Any, ledger: Ledger) -> None:
    planner = build_planner(hitl_store, [act("ask_city", {"city": "Paris"})])
    async with planner:
        pause = await planner.run("weather?", tool_context={"ledger": str(ledger.path)})
    assert isinstance(pause, PlannerPause)
    planner = build_planner(hitl_store, [final("ok")])
    async with planner:
        result = await planner.resume(pause.resume_token, approve=False, reason="busy")
    assert isinstance(result, PlannerFinish)
    assert result.metadata["steps"][0]["error"] == ("the reviewer declined to give the input: busy")


async def test_except_exception_does_not_swallow_the_pause(hitl_store: Any, ledger: Ledger) -> None:
    planner = build_planner(hitl_store, [act("swallow", {"city": "x"})])
    async with planner:
        result = await planner.run("go", tool_context={"ledger": str(ledger.path)})
    assert isinstance(result, PlannerPause)
    assert result.payload == {"question": "confirm?"}
    assert ledger.count("swallow") == 0


async def test_bad_pause_arguments_are_a_tool_error(hitl_store: Any) -> None:
    from pydantic import BaseModel

    from penguiflow import ModelRegistry

    class Args(BaseModel):
        x: int = 0

    @tool(desc="asks badly")
    async def bad(args: Args, ctx: ToolContext) -> Args:
        await ctx.pause("", {"not": object()})  # type: ignore[dict-item]
        return args

    registry = ModelRegistry()
    registry.register("bad", Args, Args)
    llm = ScriptedLLM([act("bad", {}), final("gave up")])
    async with ReactPlanner(
        tool_mode=current_mode(),
        llm_client=llm,
        nodes=[Node(bad, name="bad")],
        registry=registry,
        state_store=hitl_store,
    ) as planner:
        result = await planner.run("go")
    assert isinstance(result, PlannerFinish)
    assert "ctx.pause(reason=...)" in result.metadata["steps"][0]["error"]


async def test_a_pause_without_a_store_fails_the_run(ledger: Ledger) -> None:
    planner = build_planner(
        None, [act("ask_city", {"city": "Rome"})], exclude=("refund", "approved_summary", "notify")
    )
    async with planner:
        with pytest.raises(StateStoreRequiredError, match="ask_city"):
            await planner.run("weather?", tool_context={"ledger": str(ledger.path)})


async def test_approved_tool_that_asks_for_input_pauses_again(
    hitl_store: Any, ledger: Ledger
) -> None:
    from pydantic import BaseModel

    from penguiflow import ModelRegistry

    class Args(BaseModel):
        amount: int

    @tool(
        desc="transfer after approval, then confirm", requires_approval=True, side_effects="write"
    )
    async def transfer(args: Args, ctx: ToolContext) -> Args:
        Ledger(ctx.tool_context["ledger"]).record({"tool": "transfer"})
        await ctx.pause("confirm_otp", {"question": "enter the code"})
        return args

    def make(replies: list[Any]) -> ReactPlanner:
        registry = ModelRegistry()
        registry.register("transfer", Args, Args)
        return ReactPlanner(
            tool_mode=current_mode(),
            llm_client=ScriptedLLM(replies),
            nodes=[Node(transfer, name="transfer")],
            registry=registry,
            state_store=hitl_store,
        )

    context = {"ledger": str(ledger.path)}
    async with make([act("transfer", {"amount": 5})]) as planner:
        first = await planner.run("send 5", tool_context=context)
    assert isinstance(first, PlannerPause) and first.reason == "approval_required"
    async with make([]) as planner:
        second = await planner.resume(first.resume_token, approve=True, tool_context=context)
    assert isinstance(second, PlannerPause)
    assert second.reason == "confirm_otp" and second.payload == {"question": "enter the code"}
    assert second.resume_token != first.resume_token
    assert ledger.count("transfer") == 1
    async with make([final("sent")]) as planner:
        done = await planner.resume(second.resume_token, user_input="123456", tool_context=context)
    assert isinstance(done, PlannerFinish)
    assert done.metadata["steps"][0]["observation"] == "123456"
    assert ledger.count("transfer") == 1
