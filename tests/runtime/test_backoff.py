"""One backoff rule for every retry loop, and the old setting names still accepted."""

from __future__ import annotations

import pytest

from penguiflow import NodePolicy
from penguiflow.backoff import backoff_delay, check_backoff
from penguiflow.errors import ConfigError
from penguiflow.memory import ShortTermMemoryConfig
from penguiflow.scaleout import RetryPolicy
from penguiflow.tools.config import RetryConfig


def test_delays_grow_from_the_first_retry_and_stop_at_the_cap() -> None:
    delays = [
        backoff_delay(n, backoff_base=0.5, backoff_mult=3, max_backoff=5) for n in (1, 2, 3, 4)
    ]
    assert delays == [0.5, 1.5, 4.5, 5.0]
    assert backoff_delay(10, backoff_base=1.0, max_backoff=None) == 512.0


def test_jitter_only_shortens_the_wait() -> None:
    delays = {backoff_delay(3, backoff_base=1.0, jitter=0.5) for _ in range(200)}
    assert all(2.0 <= d <= 4.0 for d in delays) and len(delays) > 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"backoff_base": -1}, "backoff_base"),
        ({"backoff_base": float("nan")}, "backoff_base"),
        ({"backoff_base": 1, "backoff_mult": 0.5}, "backoff_mult"),
        ({"backoff_base": 1, "max_backoff": float("inf")}, "max_backoff"),
    ],
)
def test_bad_settings_name_the_owner_and_the_field(settings: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"Thing\.{field} must be a finite number"):
        check_backoff("Thing", **settings)


def test_every_retry_loop_uses_the_same_rule() -> None:
    settings = {"backoff_base": 0.2, "backoff_mult": 3.0, "max_backoff": 1.0}
    expected = [backoff_delay(n, **settings) for n in (1, 2, 3)]
    node = NodePolicy(max_retries=3, **settings)
    job = RetryPolicy(**settings)
    tool = RetryConfig(**settings)
    for policy in (node, job, tool):
        assert [policy.backoff_for(n) for n in (1, 2, 3)] == expected


def test_old_setting_names_still_work_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="backoff_base_s"):
        assert RetryPolicy(backoff_base_s=0.3).backoff_base == 0.3
    with pytest.warns(DeprecationWarning, match="backoff_s"):
        assert RetryConfig.model_validate({"backoff_s": 0.3}).backoff_base == 0.3
    with pytest.warns(DeprecationWarning, match="summary_retry_max_backoff_s"):
        config = ShortTermMemoryConfig(summary_retry_max_backoff_s=2.0)  # type: ignore[call-arg]
    assert config.summary_retry_max_backoff == 2.0


def test_an_old_and_a_new_name_together_are_refused() -> None:
    with pytest.raises(ValueError, match="give backoff_base only"):
        RetryConfig.model_validate({"backoff_s": 0.3, "backoff_base": 0.1})
