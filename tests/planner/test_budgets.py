"""Each budget ends the run with the best partial information: max_iters with no_path
(the documented reason), the others with budget_exhausted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from planner_helpers import PlannerFactory, act, final, tool_pairs

from penguiflow.planner._context import Transcript
from penguiflow.planner.run_state import RunState
from penguiflow.planner.testing import FunctionLLM
from penguiflow.planner.tokens import TokenCounter


async def test_max_iters(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([act("search", {"text": str(i)}) for i in range(3)], max_iters=3)
    result = await planner.run("q")
    assert result.reason == "no_path"
    assert result.metadata["budget"] == "max_iters"
    assert result.metadata["thought"] == "iteration limit reached"
    assert result.metadata["budgets"]["iterations"] == 3
    assert result.metadata["last_observation"] == {"value": "found:2:3"}
    assert result.payload is not None and result.payload.partial
    assert "max_iters" in result.payload.raw_answer and "step 3" in result.payload.raw_answer
    assert llm.remaining == 0


async def test_hop_budget_single_calls(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner(
        [act("search", {"text": "a"}), act("search", {"text": "b"})], hop_budget=1
    )
    result = await planner.run("q")
    assert result.reason == "budget_exhausted" and result.metadata["budget"] == "hop_budget"
    assert result.metadata["budgets"]["hops"] == 1
    assert len(result.metadata["steps"]) == 1


async def test_hop_budget_counts_parallel_branches(make_planner: PlannerFactory) -> None:
    plan = json.dumps(
        {
            "next_node": "parallel",
            "args": {"steps": [{"node": "search", "args": {"text": str(i)}} for i in range(3)]},
        }
    )
    planner, _ = make_planner([plan], hop_budget=2)
    result = await planner.run("q")
    assert result.metadata["budget"] == "hop_budget"
    assert "needs 3 tool calls, 2 left" in result.metadata["error"]
    assert result.metadata["budgets"]["hops"] == 0


async def test_hop_budget_zero_still_allows_an_answer(make_planner: PlannerFactory) -> None:
    planner, _ = make_planner([final("direct")], hop_budget=0)
    result = await planner.run("q")
    assert result.reason == "answer_complete"


async def test_deadline_while_waiting_for_the_llm(make_planner: PlannerFactory) -> None:
    async def reply(messages: list[dict[str, Any]], response_format: Any) -> str:
        if len(messages) == 2:
            return act("search", {"text": "a"})
        await asyncio.sleep(3600)
        return final()

    planner, _ = make_planner([], llm_client=FunctionLLM(reply), deadline_s=0.2)
    result = await planner.run("q")
    assert result.reason == "budget_exhausted" and result.metadata["budget"] == "deadline_s"
    assert result.metadata["last_observation"] == {"value": "found:a:3"}
    assert 0.15 < result.metadata["budgets"]["elapsed_s"]


async def test_token_budget_compacts_whole_older_steps(
    make_planner: PlannerFactory, tool_mode: str
) -> None:
    big = "x" * 3000
    replies = [act("search", {"text": f"{i}{big}"}) for i in range(4)] + [final("ok")]
    # measure what a request without steps costs (system prompt, query, response_format
    # or tools), so that the budget leaves room for about two big steps
    probe, _ = make_planner([final()], token_budget=10**6)
    fixed = (await probe.run("q")).metadata["budgets"]["tokens_last_request"]
    budget = fixed + 2000
    planner, llm = make_planner(replies, token_budget=budget, max_iters=6)
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    budgets = result.metadata["budgets"]
    assert budgets["compactions"] >= 2
    assert budgets["tokens_last_request"] <= budget
    last = llm.requests[-1].messages
    summary = [m for m in last if str(m["content"]).startswith("Earlier steps, summarised")]
    assert len(summary) == 1 and "- step 1: search(" in summary[0]["content"]
    # whole steps only: every remaining action is followed by its result
    roles = [m["role"] for m in last[3:]]
    result_role = "tool" if tool_mode == "native" else "user"
    assert roles == ["assistant", result_role] * (len(roles) // 2)
    assert [m["tool_call_id"] for m in last if m["role"] == "tool"] == [
        call_id for call_id, _ in tool_pairs(last)
    ]


async def test_token_budget_too_small_for_the_prompt(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([final()], token_budget=50)
    result = await planner.run("q")
    assert result.reason == "budget_exhausted" and result.metadata["budget"] == "token_budget"
    assert llm.requests == []


def test_transcript_counts_each_step_once() -> None:
    counted: list[str] = []

    class CountingCounter(TokenCounter):
        def count_message(self, message: Mapping[str, Any]) -> int:
            counted.append(str(message["content"]))
            return len(counted[-1])

    state = RunState(query="q")
    transcript = Transcript(CountingCounter(), [{"role": "system", "content": "s"}], 10)
    for i in range(3):
        state.add_step(kind="tool", action={"next_node": "t", "args": {"i": i}}, observation=i)
        assert transcript.build(state, token_budget=None) is not None
    assert len(counted) == 6  # each step counted once (its two messages)


def test_transcript_refuses_when_nothing_left_to_fold() -> None:
    state = RunState(query="q")
    state.add_step(kind="tool", action={"next_node": "t", "args": {}}, observation="x" * 400)
    transcript = Transcript(TokenCounter(), [{"role": "system", "content": "s"}], 20)
    assert transcript.build(state, token_budget=10) is None
    assert state.compacted == 1 and state.summary is not None
