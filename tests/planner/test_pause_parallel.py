"""Parallel plans: every branch needing approval is collected into one pause (SQLite + PG)."""

from __future__ import annotations

from typing import Any

import pytest
from hitl_helpers import Ledger, build_planner, final, parallel
from planner_helpers import json_only, tool_pairs

from penguiflow.planner import PlannerFinish, PlannerPause

pytestmark = pytest.mark.usefixtures("planner_mode")  # each test runs in both tool modes

PLAN = parallel(
    [
        ("refund", {"order_id": 1, "cents": 100}),
        ("weather", {"city": "Oslo"}),
        ("refund", {"order_id": 2, "cents": 200}),
    ],
    join={"node": "summarise", "args": {}, "inject": {"reports": "$results"}},
)


async def _pause(store: Any, ledger: Ledger, plan: str = PLAN) -> PlannerPause:
    planner = build_planner(store, [plan])
    async with planner:
        result = await planner.run("do it all", tool_context={"ledger": str(ledger.path)})
    assert isinstance(result, PlannerPause)
    return result


async def test_two_approvals_and_a_free_branch_make_one_pause(
    hitl_store: Any, ledger: Ledger, tool_mode: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    assert [c.call_id for c in pause.pending_calls] == ["call_1_0", "call_1_2"]
    assert [c.args["order_id"] for c in pause.pending_calls] == [1, 2]
    assert pause.reason == "approval_required"
    assert ledger.count("weather") == 1  # the free branch ran before the pause
    assert ledger.count("refund") == 0
    assert ledger.count("summarise") == 0  # the join waits for every branch
    assert len(await hitl_store.list_pauses(run_id=pause.run_id)) == 1
    planner = build_planner(hitl_store, [final("all done")])
    async with planner:
        result = await planner.resume(
            pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
        )
    assert isinstance(result, PlannerFinish)
    assert ledger.count("refund") == 2 and ledger.count("weather") == 1
    keys = [e["key"] for e in ledger.entries() if e["tool"] == "refund"]
    assert len(set(keys)) == 2 and all(len(k) == 64 for k in keys)  # ctx.idempotency_key
    [step] = result.metadata["steps"]
    observation = step["observation"]
    assert observation["success_count"] == 3
    assert [b["ok"] for b in observation["branches"]] == [True, True, True]
    assert "pending" not in str(observation)
    if tool_mode == "json":
        assert ledger.count("summarise") == 1
        assert observation["join"]["result"] == {"count": 3}
    else:  # three calls of one reply, no join; each call answered in the resumed request
        sent = planner.llm_client.requests[-1].messages  # type: ignore[attr-defined]
        assert [name for _, name in tool_pairs(sent)] == ["refund", "weather", "refund"]
        assert ledger.count("summarise") == 0 and observation["join"] is None


async def test_one_approved_one_rejected_skips_the_join(
    hitl_store: Any, ledger: Ledger, tool_mode: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    planner = build_planner(hitl_store, [final("partly")])
    async with planner:
        result = await planner.resume(
            pause.resume_token,
            approvals={"call_1_0": True, "call_1_2": False},
            reason="order 2 is fine",
            tool_context={"ledger": str(ledger.path)},
        )
    assert isinstance(result, PlannerFinish)
    assert [e["args"]["order_id"] for e in ledger.entries() if e["tool"] == "refund"] == [1]
    observation = result.metadata["steps"][0]["observation"]
    assert observation["branches"][2]["error"] == "rejected by the reviewer: order 2 is fine"
    assert ledger.count("summarise") == 0
    if tool_mode == "json":
        assert observation["join"]["skipped"] is True


async def test_edits_by_position_in_a_parallel_pause(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _pause(hitl_store, ledger)
    planner = build_planner(hitl_store, [final()])
    async with planner:
        result = await planner.resume(
            pause.resume_token,
            approve=True,
            edited_args=[None, {"order_id": 2, "cents": 150}],
            tool_context={"ledger": str(ledger.path)},
        )
    assert isinstance(result, PlannerFinish)
    amounts = sorted(e["args"]["cents"] for e in ledger.entries() if e["tool"] == "refund")
    assert amounts == [100, 150]


@json_only
async def test_a_join_that_needs_approval_pauses_after_the_branches(
    hitl_store: Any, ledger: Ledger
) -> None:
    plan = parallel(
        [("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"})],
        join={"node": "approved_summary", "args": {}, "inject": {"reports": "$results"}},
    )
    pause = await _pause(hitl_store, ledger, plan)
    [call] = pause.pending_calls
    assert call.tool == "approved_summary" and call.call_id == "call_1_2"
    assert len(call.args["reports"]) == 2
    assert ledger.count("weather") == 2
    planner = build_planner(hitl_store, [final()])
    async with planner:
        result = await planner.resume(
            pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
        )
    assert isinstance(result, PlannerFinish)
    assert ledger.count("approved_summary") == 1 and ledger.count("weather") == 2
    assert result.metadata["steps"][0]["observation"]["join"]["result"] == {"count": 2}


async def test_input_and_approval_branches_in_one_pause(hitl_store: Any, ledger: Ledger) -> None:
    plan = parallel(
        [("ask_city", {"city": "Springfield"}), ("refund", {"order_id": 7, "cents": 9})]
    )
    pause = await _pause(hitl_store, ledger, plan)
    assert [(c.call_id, c.kind) for c in pause.pending_calls] == [
        ("call_1_0", "input"),
        ("call_1_1", "approval"),
    ]
    assert pause.reason == "approval_required"
    planner = build_planner(hitl_store, [final()])
    async with planner:
        result = await planner.resume(
            pause.resume_token,
            approve=True,
            user_input="the one in Illinois",
            tool_context={"ledger": str(ledger.path)},
        )
    assert isinstance(result, PlannerFinish)
    branches = result.metadata["steps"][0]["observation"]["branches"]
    assert branches[0]["result"] == "the one in Illinois"
    assert branches[1]["result"]["refunded"] == 9
