"""Reflection: a draft answer is critiqued against criteria and revised, within bounds."""

from __future__ import annotations

import json

import pytest
from planner_compat_support import action, planner

from penguiflow.errors import ConfigError
from penguiflow.planner import PlannerEvent, ReactPlanner, ReflectionConfig, ScriptedLLM
from penguiflow.planner.react import ReflectionCriteria


def critique(score: float, passed: bool, feedback: str = "") -> str:
    return json.dumps({"score": score, "passed": passed, "feedback": feedback, "issues": []})


def revision(answer: str) -> str:
    return json.dumps({"answer": answer})


async def test_a_weak_answer_is_critiqued_and_revised(tool_mode: str) -> None:
    events: list[PlannerEvent] = []
    replies = [
        action("search_docs", {"question": "pause"}),
        action("final_response", {"answer": "Pause it."}),
        critique(0.4, False, "Say how: ctx.pause."),
        revision("Call await ctx.pause(reason, payload) inside the tool."),
        critique(0.9, True),
    ]
    config = ReflectionConfig(
        enabled=True,
        criteria=ReflectionCriteria(completeness="Says which call pauses the run"),
        quality_threshold=0.8,
    )
    async with planner(
        replies, tool_mode, reflection_config=config, event_callback=events.append
    ) as agent:
        result = await agent.run("How do I pause a run?")
        critic_request = agent.llm_client.requests[2]  # type: ignore[attr-defined]
    assert result.reason == "answer_complete"
    assert result.payload["raw_answer"].startswith("Call await ctx.pause")
    critiques = [e for e in events if e.event_type == "reflection_critique"]
    assert [(e.extra["revision"], e.extra["passed"]) for e in critiques] == [(0, False), (1, True)]
    assert critiques[0].extra["score"] == 0.4 and "ctx.pause" in critiques[0].extra["feedback"]
    assert result.metadata["reflection"]["passed"] is True
    assert result.metadata["reflection"]["revisions"] == 1
    assert result.metadata["cost"]["reflection_llm_calls"] == 3
    text = critic_request.messages[-1]["content"]
    assert "Says which call pauses the run" in text and "docs say: pause" in text


async def test_revisions_are_bounded(tool_mode: str) -> None:
    replies = [
        action("final_response", {"answer": "v0"}),
        critique(0.1, False, "worse"),
        revision("v1"),
        critique(0.2, False, "still weak"),
    ]
    config = ReflectionConfig(enabled=True, max_revisions=1)
    async with planner(replies, tool_mode, reflection_config=config) as agent:
        result = await agent.run("Answer me")
    assert result.payload["raw_answer"] == "v1"
    assert result.metadata["reflection"]["passed"] is False
    assert result.metadata["reflection"]["revisions"] == 1
    assert result.metadata["reflection"]["score"] == 0.2


async def test_a_separate_critic(tool_mode: str) -> None:
    critic = ScriptedLLM([critique(0.95, True)])
    config = ReflectionConfig(enabled=True, use_separate_llm=True)
    replies = [action("final_response", {"answer": "fine"})]
    async with planner(replies, tool_mode, reflection_config=config, reflection_llm=critic) as p:
        result = await p.run("Answer me")
    assert result.payload["raw_answer"] == "fine" and len(critic.requests) == 1
    assert result.metadata["reflection"]["score"] == 0.95


async def test_an_unreadable_critique_keeps_the_answer(tool_mode: str) -> None:
    replies = [action("final_response", {"answer": "kept"}), "not json at all"]
    config = ReflectionConfig(enabled=True)
    async with planner(replies, tool_mode, reflection_config=config) as agent:
        result = await agent.run("Answer me")
    assert result.payload["raw_answer"] == "kept"
    assert "unreadable critique" in result.metadata["reflection"]["error"]


def test_a_separate_critic_must_be_given() -> None:
    config = ReflectionConfig(enabled=True, use_separate_llm=True)
    with pytest.raises(ConfigError, match="reflection_llm"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=[], reflection_config=config)
