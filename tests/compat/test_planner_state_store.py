"""InMemoryStateStore: an explicit store that holds pauses in this process (tests, notebooks)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from planner_compat_support import Invoice, Refund, action, build_tools

from penguiflow import ModelRegistry, Node, tool
from penguiflow.catalog import build_catalog
from penguiflow.planner import PlannerEvent, PlannerPause, ReactPlanner, ScriptedLLM
from penguiflow.planner.errors import StateStoreRequiredError
from penguiflow.planner.memory import MemoryKey, ShortTermMemoryConfig
from penguiflow.sessions import PauseAlreadyClaimedError
from penguiflow.state import InMemoryStateStore

refunds: list[str] = []


@tool(desc="Refund an invoice", side_effects="write", requires_approval=True)
async def approved_refund(args: Invoice, ctx: Any) -> Refund:
    refunds.append(args.invoice_id)
    return Refund(refunded=args.invoice_id)


def gated_tools() -> list[Any]:
    registry = ModelRegistry()
    registry.register("approved_refund", Invoice, Refund)
    return build_catalog([Node(approved_refund, name="approved_refund")], registry)


def script() -> ScriptedLLM:
    return ScriptedLLM(
        [action("approved_refund", {"invoice_id": "7"}), action("final_response", {"answer": "ok"})]
    )


async def test_pause_and_resume_in_one_process(tool_mode: str) -> None:
    refunds.clear()
    events: list[PlannerEvent] = []
    store = InMemoryStateStore()
    async with ReactPlanner(
        llm_client=script(),
        catalog=gated_tools(),
        state_store=store,
        tool_mode=tool_mode,
        event_callback=events.append,
    ) as planner:
        paused = await planner.run("Refund invoice 7")
        assert isinstance(paused, PlannerPause) and refunds == []
        result = await planner.resume(paused.resume_token, approve=True)
    assert result.reason == "answer_complete" and refunds == ["7"]
    kinds = [e.event_type for e in events]
    assert "pause" in kinds and "resume" in kinds and kinds[-1] == "finish"
    assert planner.state_store is store


async def test_another_planner_on_the_same_store_resumes_exactly_once(tool_mode: str) -> None:
    refunds.clear()
    store = InMemoryStateStore()
    llm = script()
    options: dict[str, Any] = {
        "catalog": gated_tools(),
        "state_store": store,
        "tool_mode": tool_mode,
    }
    async with ReactPlanner(llm_client=llm, **options) as first:
        paused = await first.run("Refund invoice 7")
    assert isinstance(paused, PlannerPause)
    async with (
        ReactPlanner(llm_client=llm, **options) as second,
        ReactPlanner(llm_client=llm, **options) as third,
    ):
        outcomes = await asyncio.gather(
            second.resume(paused.resume_token, approve=True),
            third.resume(paused.resume_token, approve=True),
            return_exceptions=True,
        )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert sum(isinstance(o, PauseAlreadyClaimedError) for o in outcomes) == 1
    assert refunds == ["7"]  # the approved call ran once


async def test_another_store_does_not_see_the_pause(tool_mode: str) -> None:
    options: dict[str, Any] = {"catalog": gated_tools(), "tool_mode": tool_mode}
    async with ReactPlanner(llm_client=script(), state_store=InMemoryStateStore(), **options) as a:
        paused = await a.run("Refund invoice 7")
    assert isinstance(paused, PlannerPause)
    async with ReactPlanner(llm_client=script(), state_store=InMemoryStateStore(), **options) as b:
        with pytest.raises(LookupError):  # PauseNotFoundError: a store per process, or none
            await b.resume(paused.resume_token, approve=True)


def test_there_is_no_implicit_store() -> None:
    with pytest.raises(StateStoreRequiredError, match="InMemoryStateStore"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=gated_tools())


async def test_memory_lives_in_the_store_for_the_process() -> None:
    store = InMemoryStateStore()
    key = MemoryKey(tenant_id="acme", user_id="ada", session_id="s1")
    memory = ShortTermMemoryConfig(strategy="truncation")
    first = ScriptedLLM([action("final_response", {"answer": "Hello Ada"})])
    async with ReactPlanner(
        llm_client=first, catalog=build_tools(), state_store=store, short_term_memory=memory
    ) as planner:
        await planner.run("My name is Ada", memory_key=key)
    second = ScriptedLLM([action("final_response", {"answer": "Ada"})])
    async with ReactPlanner(
        llm_client=second, catalog=build_tools(), state_store=store, short_term_memory=memory
    ) as planner:
        result = await planner.run("What is my name?", memory_key=key)
    assert result.metadata["memory"]["turns"] == 1
    assert "My name is Ada" in str(second.requests[0].messages)
