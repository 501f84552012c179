from __future__ import annotations

import pickle

import pytest
from _memory_support import ScriptedSummarizer

from penguiflow.errors import ConfigError
from penguiflow.memory import MemoryBudget, MemoryIsolation, ShortTermMemoryConfig
from penguiflow.memory.errors import MemoryConfigError


def test_defaults() -> None:
    config = ShortTermMemoryConfig()
    assert config.strategy == "none"
    assert not config.enabled
    assert config.budget == MemoryBudget(
        full_zone_turns=5, summary_max_tokens=1000, total_max_tokens=10000
    )
    assert config.budget.overflow_policy == "truncate_oldest"
    assert config.isolation.require_explicit_key is True
    assert config.isolation.tenant_key == "tenant_id"


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        MemoryBudget(3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ShortTermMemoryConfig("truncation")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"full_zone_turns": 0}, "MemoryBudget.full_zone_turns"),
        ({"summary_max_tokens": -1}, "MemoryBudget.summary_max_tokens: must be >= 0"),
        ({"total_max_tokens": 0}, "MemoryBudget.total_max_tokens: must be >= 1"),
        ({"overflow_policy": "drop"}, "MemoryBudget.overflow_policy"),
        ({"bogus": 1}, "MemoryBudget.bogus"),
    ],
)
def test_budget_rejects_bad_values(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(MemoryConfigError) as info:
        MemoryBudget(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert fragment in message
    assert "got" in message
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(MemoryConfigError, match="strategy"):
        ShortTermMemoryConfig(strategy="forever")  # type: ignore[arg-type]
    with pytest.raises(MemoryConfigError, match="summarizer_llm: must be None or an LLM client"):
        ShortTermMemoryConfig(summarizer_llm=object())
    with pytest.raises(MemoryConfigError, match="summary_retry_attempts"):
        ShortTermMemoryConfig(summary_retry_attempts=0)
    with pytest.raises(MemoryConfigError, match="summary_timeout_s: must be > 0"):
        ShortTermMemoryConfig(summary_timeout_s=0)
    with pytest.raises(MemoryConfigError, match="backoff must be a finite"):
        ShortTermMemoryConfig(summary_retry_backoff_base=float("nan"))
    with pytest.raises(MemoryConfigError, match="max_pending_turns"):
        ShortTermMemoryConfig(max_pending_turns=0)
    expected = (
        r"budget: MemoryBudget\.total_max_tokens: must be >= 1 token; "
        r"give the memory block a positive budget \(got -5\)$"
    )
    with pytest.raises(MemoryConfigError, match=expected):
        ShortTermMemoryConfig(budget={"total_max_tokens": -5})  # type: ignore[arg-type]


def test_isolation_paths_are_checked() -> None:
    assert MemoryIsolation(tenant_key="auth.tenant").tenant_key == "auth.tenant"
    with pytest.raises(MemoryConfigError, match="dotted path"):
        MemoryIsolation(session_key="a..b")
    with pytest.raises(MemoryConfigError, match="dotted path"):
        MemoryIsolation(user_key="")


def test_frozen_and_repr_hides_client() -> None:
    llm = ScriptedSummarizer()
    config = ShortTermMemoryConfig(strategy="rolling_summary", summarizer_llm=llm)
    assert "ScriptedSummarizer" not in repr(config)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        config.strategy = "none"  # type: ignore[misc]


def test_dict_budget_is_accepted() -> None:
    config = ShortTermMemoryConfig(
        strategy="truncation",
        budget={"full_zone_turns": 2, "overflow_policy": "error"},  # type: ignore[arg-type]
    )
    assert config.budget.full_zone_turns == 2
    assert config.budget.overflow_policy == "error"


def test_config_error_pickles() -> None:
    with pytest.raises(MemoryConfigError) as info:
        MemoryBudget(total_max_tokens=0)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)
