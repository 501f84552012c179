"""Seeded fuzzing: whatever a reply holds, a run ends in a result, never an exception.

The replies (``hostile_replies.py``) nest thousands of levels deep, hold integers of
thousands of digits, strings of a million characters, lone surrogates, NaN and Infinity,
duplicate keys, wrong types, truncated JSON, tool calls with non-JSON arguments or
unknown names, and thousands of parallel calls; in JSON and native tool modes, with plain
and typed answers, default and tightened limits. Each run is bounded by a timeout.
"""

from __future__ import annotations

import pytest
from hostile_replies import Figures, campaign


def check(figures: Figures, runs: int) -> None:
    assert figures.raised == []
    assert figures.hangs == []
    assert figures.garbage == []  # only the scripted answer is ever an answer
    assert figures.runs == runs and sum(figures.outcomes.values()) == runs
    assert set(figures.outcomes) <= {"answer_complete", "no_path", "budget_exhausted"}
    assert figures.outcomes["answer_complete"] and figures.outcomes["no_path"]


async def test_hostile_replies_end_in_a_result() -> None:
    figures = await campaign(seed=21, runs=100)
    check(figures, 100)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_hostile_replies_end_in_a_result_at_scale(seed: int) -> None:
    figures = await campaign(seed=seed, runs=300)
    check(figures, 300)
