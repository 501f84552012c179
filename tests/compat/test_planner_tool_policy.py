"""ToolPolicy: one agent shows each tenant its own tools, in both tool modes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from planner_compat_support import action, build_tools

from penguiflow.errors import ConfigError
from penguiflow.planner import PlannerPause, ReactPlanner, ScriptedLLM, ToolPolicy
from penguiflow.planner.llm_types import LLMRequest
from penguiflow.state import InMemoryStateStore


def offered(request: LLMRequest) -> set[str]:
    """The tools a request shows the model (native ``tools``, or the JSON action schema)."""
    if request.tools is not None:
        return {name for name in request.tool_names if name != "final_response"}
    schema = json.dumps(request.response_format)
    names = {"search_docs", "lookup_invoice", "refund_invoice", "ask_user"}
    return {name for name in names if name in schema and name in request.messages[0]["content"]}


async def test_a_planner_policy_removes_tools(tool_mode: str) -> None:
    llm = ScriptedLLM(
        [action("refund_invoice", {"invoice_id": "7"}), action("final_response", {"answer": "no"})]
    )
    policy = ToolPolicy(denied_tools={"refund_invoice"})
    async with ReactPlanner(
        llm_client=llm, catalog=build_tools(), tool_policy=policy, tool_mode=tool_mode
    ) as planner:
        assert [spec.name for spec in planner.catalog] == ["search_docs", "lookup_invoice"]
        result = await planner.run("Refund invoice 7")
    assert offered(llm.requests[0]) == {"search_docs", "lookup_invoice"}
    assert result.metadata["steps"][0]["kind"] == "unknown_tool"


async def test_each_run_sees_its_tenants_tools(tool_mode: str) -> None:
    public = ToolPolicy(require_tags={"public"})
    billing = ToolPolicy(require_tags={"billing"}, denied_tags={"admin"})
    llm = ScriptedLLM(
        [
            action("lookup_invoice", {"invoice_id": "1"}),  # not visible to the public run
            action("final_response", {"answer": "public"}),
            action("lookup_invoice", {"invoice_id": "2"}),
            action("final_response", {"answer": "billing"}),
            action("final_response", {"answer": "all"}),
        ]
    )
    async with ReactPlanner(llm_client=llm, catalog=build_tools(), tool_mode=tool_mode) as planner:
        first = await planner.run("Invoice 1?", tool_policy=public, tenant_id="public")
        second = await planner.run("Invoice 2?", tool_policy=billing, tenant_id="acme")
        third = await planner.run("Anything?")
    assert offered(llm.requests[0]) == {"search_docs"}
    assert first.metadata["steps"][0]["kind"] == "unknown_tool"
    assert "lookup_invoice" in first.metadata["steps"][0]["error"]
    assert offered(llm.requests[2]) == {"lookup_invoice"}
    assert second.metadata["steps"][0]["observation"] == {"answer": "invoice 2 is paid"}
    assert offered(llm.requests[4]) == {"search_docs", "lookup_invoice", "refund_invoice"}
    assert third.payload["raw_answer"] == "all"


async def test_a_paused_run_keeps_its_policy_when_resumed(tool_mode: str) -> None:
    llm = ScriptedLLM(
        [
            action("ask_user", {"question": "which invoice?"}),
            action("final_response", {"answer": "ok"}),
        ]
    )
    store = InMemoryStateStore()  # pauses held in this process (tests and notebooks)
    policy = ToolPolicy(allowed_tools={"ask_user", "search_docs"})
    options: dict[str, Any] = {"catalog": build_tools(ask=True), "tool_mode": tool_mode}
    async with ReactPlanner(llm_client=llm, state_store=store, **options) as planner:
        paused = await planner.run("Help me", tool_policy=policy)
    assert isinstance(paused, PlannerPause) and paused.payload == {"question": "which invoice?"}
    async with ReactPlanner(llm_client=llm, state_store=store, **options) as other:
        result = await other.resume(paused.resume_token, "invoice 7")  # user_input
    assert result.reason == "answer_complete"
    assert offered(llm.requests[-1]) == {"ask_user", "search_docs"}  # still this run's tools
    assert result.metadata["steps"][0]["observation"] == "invoice 7"


async def test_a_policy_of_the_wrong_type_is_refused() -> None:
    llm = ScriptedLLM([])
    with pytest.raises(ConfigError, match="tool_policy"):
        ReactPlanner(llm_client=llm, catalog=build_tools(), tool_policy={"denied": ["x"]})  # type: ignore[arg-type]
    async with ReactPlanner(llm_client=llm, catalog=build_tools()) as planner:
        with pytest.raises(ConfigError, match="must be a ToolPolicy"):
            await planner.run("q", tool_policy=["search_docs"])  # type: ignore[arg-type]


async def test_a_forced_tool_that_a_run_cannot_see_is_not_forced_on_it() -> None:
    first_call = action("lookup_invoice", {"invoice_id": "1"})
    llm = ScriptedLLM(
        [action("final_response", {"answer": "public"}), first_call, action("final_response")]
    )
    async with ReactPlanner(
        llm_client=llm, catalog=build_tools(), tool_mode="native", tool_choice="lookup_invoice"
    ) as planner:
        public = await planner.run("Invoice 1?", tool_policy=ToolPolicy(require_tags={"public"}))
        billing = await planner.run("Invoice 1?")
    assert public.payload["raw_answer"] == "public"
    assert offered(llm.requests[0]) == {"search_docs"}
    assert llm.requests[0].tool_choice is None  # lookup_invoice is not among this run's tools
    forced = llm.requests[1].tool_choice
    assert forced == {"type": "function", "function": {"name": "lookup_invoice"}}
    assert billing.metadata["steps"][0]["observation"] == {"answer": "invoice 1 is paid"}
