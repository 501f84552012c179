"""The documented action shapes are accepted, and the answer reads as a mapping."""

from __future__ import annotations

import json
from typing import Any

from planner_compat_support import StubClient, action, build_tools, finish

from penguiflow.planner import PlannerAction, ReactPlanner


async def _run(*replies: str) -> tuple[Any, StubClient]:
    client = StubClient(list(replies))
    async with ReactPlanner(llm_client=client, catalog=build_tools()) as planner:
        return await planner.run("Check invoice 7 and the docs"), client


async def test_a_legacy_parallel_plan_with_a_join() -> None:
    plan = json.dumps(
        {
            "thought": "both at once",
            "next_node": None,
            "plan": [
                {"node": "lookup_invoice", "args": {"invoice_id": "7"}},
                {"node": "search_docs", "args": {"question": "refunds"}},
            ],
            "join": {"node": "search_docs", "args": {}, "inject": {"question": "$results"}},
        }
    )
    result, _ = await _run(plan, finish("All checked."))
    step = result.metadata["steps"][0]
    assert step["kind"] == "parallel"
    assert [b["result"] for b in step["observation"]["branches"]] == [
        {"answer": "invoice 7 is paid"},
        {"answer": "docs say: refunds"},
    ]
    assert step["observation"]["join"]["node"] == "search_docs"
    assert result.payload["raw_answer"] == "All checked."


async def test_explicit_null_plan_and_join_next_to_a_tool_call() -> None:
    call = action("lookup_invoice", {"invoice_id": "7"}, plan=None, join=None)
    result, _ = await _run(call, finish("Paid."))
    assert result.metadata["steps"][0]["observation"] == {"answer": "invoice 7 is paid"}
    assert result.metadata["repairs"]["llm_repairs"] == 0


async def test_final_response_with_answer_or_raw_answer() -> None:
    for args in ({"answer": "A"}, {"raw_answer": "A"}):
        result, _ = await _run(action("final_response", args, plan=None, join=None))
        assert result.reason == "answer_complete"
        assert result.payload["raw_answer"] == "A"


async def test_the_payload_reads_as_a_mapping() -> None:
    result, _ = await _run(finish("Mapped."))
    payload = result.payload
    assert payload["raw_answer"] == payload.get("raw_answer") == payload.raw_answer == "Mapped."
    assert payload.get("artifacts", {}) == {} and "raw_answer" in payload
    assert dict(payload.items())["partial"] is False and "confidence" in payload.keys()


def test_planner_action_takes_the_documented_shapes() -> None:
    done = PlannerAction(thought="done", next_node=None, args={"raw_answer": "ok"})
    assert (done.next_node, done.args) == ("final_response", {"answer": "ok"})
    tool = PlannerAction.model_validate(
        {"thought": "t", "next_node": "search_docs", "args": None, "plan": None, "join": None}
    )
    assert (tool.next_node, tool.args) == ("search_docs", {})
    plan = PlannerAction.model_validate(
        {"thought": "t", "next_node": None, "plan": [{"node": "search_docs", "args": {}}]}
    )
    assert plan.kind == "parallel" and plan.parallel_args().steps[0].node == "search_docs"
    assert json.loads(done.model_dump_json())["next_node"] == "final_response"
