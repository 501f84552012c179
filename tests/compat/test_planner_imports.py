"""The planner's documented module paths import, and their names are the real objects."""

from __future__ import annotations

import pytest

from penguiflow.memory import ShortTermMemory
from penguiflow.memory.errors import MemoryBudgetError
from penguiflow.memory.turns import Turn


def test_planner_react_names() -> None:
    from penguiflow.planner.react import (
        PlannerAction,
        ReactPlanner,
        ReflectionConfig,
        ReflectionCritique,
        Trajectory,
        TrajectoryStep,
    )
    from penguiflow.planner.run_state import RunState

    assert ReactPlanner.__name__ == "ReactPlanner"
    assert Trajectory is RunState
    assert {PlannerAction.__name__, TrajectoryStep.__name__} == {"PlannerAction", "TrajectoryStep"}
    assert ReflectionConfig().enabled is False
    assert ReflectionCritique(score=0.5, passed=False).feedback == ""


def test_planner_memory_names() -> None:
    from penguiflow.planner.memory import (
        ConversationTurn,
        DefaultShortTermMemory,
        MemoryBudget,
        MemoryBudgetExceeded,
        MemoryHealth,
        MemoryIsolation,
        MemoryKey,
        ShortTermMemoryConfig,
        default_token_estimator,
    )

    assert DefaultShortTermMemory is ShortTermMemory and ConversationTurn is Turn
    assert MemoryBudgetExceeded is MemoryBudgetError
    key = MemoryKey(tenant_id="acme", user_id="ada", session_id="s1")
    assert key.composite() == "acme:ada:s1"
    turn = ConversationTurn(user_message="hi", assistant_response="hello", ts=1.0)
    assert (turn.user_message, turn.assistant_response, turn.created_at) == ("hi", "hello", 1.0)
    assert default_token_estimator("four words here now") > 0
    config = ShortTermMemoryConfig(
        strategy="truncation",
        budget=MemoryBudget(full_zone_turns=3),
        isolation=MemoryIsolation(require_explicit_key=True),
    )
    assert config.budget.full_zone_turns == 3 and MemoryHealth.HEALTHY.value == "healthy"


def test_the_upstream_names_of_memory_settings_still_configure_it() -> None:
    from penguiflow.planner.memory import ShortTermMemoryConfig

    with pytest.warns(DeprecationWarning, match="use summary_retry_attempts"):
        config = ShortTermMemoryConfig(strategy="truncation", retry_attempts=5)
    assert config.summary_retry_attempts == 5


def test_planner_guardrails_names() -> None:
    from penguiflow.planner.guardrails import (
        GuardrailAction,
        GuardrailDecision,
        GuardrailGateway,
        RetrySpec,
        RuleRegistry,
    )

    decision = GuardrailDecision(
        action=GuardrailAction.RETRY, rule_id="r", reason="why", retry=RetrySpec(max_attempts=1)
    )
    assert decision.with_effects("flag").effects == ("flag",)
    assert GuardrailGateway(registry=RuleRegistry()).config.mode == "enforce"


def test_planner_root_names() -> None:
    from penguiflow.planner import PlannerAction, ReactPlanner, ReflectionConfig, ToolPolicy

    assert ToolPolicy(denied_tools={"x"}).is_allowed("y", [])
    assert ReflectionConfig(enabled=True).max_revisions == 2
    assert PlannerAction and ReactPlanner


async def test_default_short_term_memory_keeps_the_latest_turns() -> None:
    from penguiflow.planner.memory import (
        ConversationTurn,
        DefaultShortTermMemory,
        MemoryBudget,
        ShortTermMemoryConfig,
    )

    config = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=2))
    memory = DefaultShortTermMemory(config=config)
    for i in range(3):
        await memory.add_turn(ConversationTurn(user_message=f"q{i}", assistant_response=f"a{i}"))
    context = await memory.get_llm_context()
    assert "q0" not in context.text and "q1" in context.text and "a2" in context.text
    assert [t.user_message for t in memory.turns] == ["q1", "q2"]
    await memory.aclose()
