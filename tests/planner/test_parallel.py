"""Parallel plans: fan-out through the runtime, the per-run cap, joins."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from planner_helpers import (
    Found,
    PlannerFactory,
    Query,
    final,
    json_only,
    registry_for,
)
from planner_helpers import (
    search as search_tool,
)

from penguiflow import Node, tool


def plan(steps: list[tuple[str, dict[str, Any]]], join: dict[str, Any] | None = None) -> str:
    args: dict[str, Any] = {"steps": [{"node": n, "args": a} for n, a in steps]}
    if join is not None:
        args["join"] = join
    return json.dumps({"thought": "fan out", "next_node": "parallel", "args": args})


@json_only  # joins are JSON actions; native calls of one reply have no join
async def test_all_branches_then_join_with_injection(make_planner: PlannerFactory) -> None:
    join = {
        "node": "summarise",
        "args": {"values": None},
        "inject": {"values": "$results", "count": "$success_count"},
    }
    planner, llm = make_planner(
        [plan([("search", {"text": "a"}), ("search", {"text": "b"})], join), final("2 found")]
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    assert step["kind"] == "parallel" and step["error"] is None
    obs = step["observation"]
    assert [b["result"] for b in obs["branches"]] == [
        {"value": "found:a:3"},
        {"value": "found:b:3"},
    ]
    assert obs["success_count"] == 2 and obs["failure_count"] == 0
    # 2 results injected as values, plus success_count injected as count
    assert obs["join"] == {"node": "summarise", "ok": True, "result": {"total": 4}}
    assert result.metadata["budgets"]["hops"] == 3
    assert '"total":4' in llm.requests[-1].last_message


async def test_failed_branch_skips_join_and_reports(
    make_planner: PlannerFactory, tool_mode: str
) -> None:
    join = {"node": "summarise", "args": {}, "inject": {"values": "$results"}}
    planner, llm = make_planner(
        [
            plan(
                [
                    ("search", {"text": "a"}),
                    ("broken", {"text": "b"}),
                    ("teleport", {}),
                    ("search", {"text": ""}),
                ],
                join,
            ),
            final(),
        ]
    )
    result = await planner.run("q")
    obs = result.metadata["steps"][0]["observation"]
    oks = [b["ok"] for b in obs["branches"]]
    assert oks == [True, False, False, False]
    assert "boom on b" in obs["branches"][1]["error"]
    assert "unknown tool 'teleport'" in obs["branches"][2]["error"]
    assert "args.text" in obs["branches"][3]["error"]
    if tool_mode == "json":
        assert obs["join"]["skipped"] is True and "3 of 4" in obs["join"]["reason"]
        error = result.metadata["steps"][0]["error"]
        assert "join 'summarise' skipped" in error
        assert "boom on b" in llm.requests[-1].last_message
    else:  # one tool message per call, each with its own result
        results = [m["content"] for m in llm.requests[-1].messages if m["role"] == "tool"]
        assert results[0] == '{"value":"found:a:3"}' and "boom on b" in results[1]
        assert "unknown tool 'teleport'" in results[2] and "args.text" in results[3]
    assert result.metadata["budgets"]["hops"] == 2  # only valid branches ran


async def test_max_parallel_caps_without_dropping(make_planner: PlannerFactory) -> None:
    running = 0
    peak = 0
    done: list[str] = []

    @tool(desc="Slowish")
    async def slowish(args: Query, ctx: Any) -> Found:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(args.text)
        return Found(value=args.text)

    planner, _ = make_planner(
        [plan([("slowish", {"text": str(i)}) for i in range(7)]), final()],
        nodes=[Node(slowish, name="slowish")],
        registry=registry_for(("slowish", Query, Found)),
        max_parallel=2,
    )
    result = await planner.run("q")
    obs = result.metadata["steps"][0]["observation"]
    assert obs["success_count"] == 7
    assert [b["result"]["value"] for b in obs["branches"]] == [str(i) for i in range(7)]
    assert peak == 2
    assert sorted(done) == [str(i) for i in range(7)]


@json_only
async def test_join_with_bad_injected_args_is_reported(make_planner: PlannerFactory) -> None:
    join = {"node": "summarise", "args": {}, "inject": {"count": "$results"}}
    planner, _ = make_planner([plan([("search", {"text": "a"})], join), final()])
    result = await planner.run("q")
    obs = result.metadata["steps"][0]["observation"]
    assert obs["join"]["ok"] is False and "args.count" in obs["join"]["error"]


@json_only
async def test_malformed_plan_goes_through_the_repair_ladder(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner(
        [json.dumps({"next_node": "parallel", "args": {"steps": []}}), final()]
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert (
        "invalid parallel plan" in llm.requests[-1].last_message
        and "args.steps" in llm.requests[-1].last_message
    )


async def test_sequential_only_tools_are_refused_in_parallel(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner(
        [plan([("search", {"text": "a"}), ("summarise", {})]), final()],
        planning_hints={"sequential_only": ["search"]},
    )
    result = await planner.run("q")
    branches = result.metadata["steps"][0]["observation"]["branches"]
    assert branches[0]["ok"] is False and "parallel" in branches[0]["error"]
    assert branches[1]["ok"] is True


async def test_deadline_cancels_every_branch_in_flight(make_planner: PlannerFactory) -> None:
    cancelled: list[str] = []

    @tool(desc="Never ends")
    async def stuck(args: Query, ctx: Any) -> Found:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(args.text)
            raise
        raise AssertionError("unreachable")

    planner, _ = make_planner(
        [
            plan(
                [("stuck", {"text": "a"}), ("stuck", {"text": "b"}), ("search", {"text": "c"})],
                {"node": "search", "args": {"text": "join"}},
            )
        ],
        nodes=[Node(stuck, name="stuck"), Node(search_tool, name="search")],
        registry=registry_for(("stuck", Query, Found), ("search", Query, Found)),
        deadline_s=0.3,
    )
    result = await planner.run("q")
    assert result.reason == "budget_exhausted" and result.metadata["budget"] == "deadline_s"
    assert sorted(cancelled) == ["a", "b"]
    obs = result.metadata["steps"][0]["observation"]
    assert [b["ok"] for b in obs["branches"]] == [False, False, True]
    assert obs["join"] is None  # never started after the deadline
