from __future__ import annotations

import pytest
from _memory_support import turn

from penguiflow.memory import MemoryBudget
from penguiflow.memory.context import MEMORY_HEADER, render_block
from penguiflow.memory.errors import MemoryBudgetError
from penguiflow.memory.strategies import build_context, condense_turn, split_zone, turn_tokens
from penguiflow.memory.tokens import TokenCounter
from penguiflow.memory.turns import ToolCallRecord, Turn, render_turn

COUNTER = TokenCounter("gpt-4o")


def context(summary: str, turns: list[Turn], **budget: object):  # type: ignore[no-untyped-def]
    return build_context(
        summary=summary,
        pending=[],
        recent=turns,
        budget=MemoryBudget(**budget),  # type: ignore[arg-type]
        counter=COUNTER,
    )


def test_split_zone() -> None:
    turns = [turn(i) for i in range(5)]
    overflow, kept = split_zone(turns, 2)
    assert overflow == turns[:3] and kept == turns[3:]
    assert split_zone(turns[:1], 3) == ([], turns[:1])


def test_empty_memory_is_an_empty_block() -> None:
    result = context("", [])
    assert result.is_empty and result.tokens == 0 and result.text == ""


def test_everything_fits() -> None:
    turns = [turn(i, tools=1) for i in range(3)]
    result = context("The user is Ada.", turns)
    assert result.turns == tuple(turns)
    assert result.omitted_turns == 0
    assert result.text.startswith(MEMORY_HEADER)
    assert "The user is Ada." in result.text
    assert result.tokens == COUNTER.count(result.text)
    assert result.to_message() == {"role": "system", "content": result.text}


def test_truncate_oldest_drops_whole_old_turns_and_keeps_summary() -> None:
    turns = [turn(i, size=30, tools=1) for i in range(6)]
    full = COUNTER.count(render_block("summary text", turns))
    result = context("summary text", turns, total_max_tokens=full // 2)
    assert result.tokens <= full // 2
    assert result.summary == "summary text"
    kept = list(result.turns)
    assert kept == turns[len(turns) - len(kept) :]  # newest, contiguous, whole
    assert 0 < len(kept) < 6 and result.omitted_turns == 6 - len(kept)
    for shown in kept:
        assert render_turn(shown) in result.text


def test_truncate_summary_shortens_summary_before_dropping_turns() -> None:
    turns = [turn(i, size=5) for i in range(3)]
    summary = "fact " * 400
    turns_only = COUNTER.count(render_block("", turns))
    result = context(
        summary,
        turns,
        total_max_tokens=turns_only + 60,
        summary_max_tokens=1000,
        overflow_policy="truncate_summary",
    )
    assert result.turns == tuple(turns)
    assert 0 < COUNTER.count(result.summary) < COUNTER.count(summary)
    assert result.tokens <= turns_only + 60

    oldest = context(
        summary,
        turns,
        total_max_tokens=turns_only + 60,
        summary_max_tokens=1000,
        overflow_policy="truncate_oldest",
    )
    assert len(oldest.turns) < 3  # the other policy drops turns instead


def test_summary_is_capped_by_summary_max_tokens() -> None:
    result = context("word " * 500, [], summary_max_tokens=20)
    assert COUNTER.count(result.summary) <= 20


def test_error_policy_raises() -> None:
    turns = [turn(i, size=50) for i in range(4)]
    with pytest.raises(MemoryBudgetError) as info:
        context("", turns, total_max_tokens=100, overflow_policy="error")
    assert info.value.total_max_tokens == 100
    assert info.value.tokens > 100
    assert "overflow_policy is 'error'" in str(info.value)


def test_pending_turns_are_shown_before_recent() -> None:
    pending = [turn(0), turn(1)]
    recent = [turn(2)]
    result = build_context(
        summary="",
        pending=pending,
        recent=recent,
        budget=MemoryBudget(),
        counter=COUNTER,
    )
    assert result.turns == (*pending, *recent)
    assert result.pending_turn_ids == (pending[0].id, pending[1].id)


def test_condense_keeps_small_turns_as_they_are() -> None:
    small = turn(1, tools=2)
    assert condense_turn(small, 10_000, COUNTER) is small


def test_condense_huge_turn_fits_and_keeps_call_with_result() -> None:
    huge = Turn(
        user="Please analyse this: " + "data " * 20_000,
        tool_calls=(
            ToolCallRecord(name="fetch", args={"url": "u" * 5000}, result="row " * 30_000),
            ToolCallRecord(name="small", args={"a": 1}, result="ok"),
        ),
        assistant="Done: " + "blah " * 10_000,
    )
    for limit in (60, 200, 1500):
        condensed = condense_turn(huge, limit, COUNTER)
        assert condensed is not None
        assert turn_tokens(condensed, COUNTER) <= limit
        assert condensed.condensed and condensed.id == huge.id
        assert [c.name for c in condensed.tool_calls] == ["fetch", "small"]
    roomy = condense_turn(huge, 1500, COUNTER)
    assert roomy is not None
    assert roomy.tool_calls[1].result == "ok"  # short fields stay whole
    assert roomy.user.startswith("Please analyse this:")
    assert roomy.tool_calls[0].result.endswith("…[cut]")


def test_condense_to_nothing() -> None:
    assert condense_turn(turn(1), 0, COUNTER) is None
    assert condense_turn(turn(1), 2, COUNTER) is None


def test_single_huge_turn_fits_the_block() -> None:
    huge = Turn(user="x " * 50_000, assistant="y " * 50_000)
    result = context("", [huge], total_max_tokens=120)
    assert 0 < result.tokens <= 120
    assert result.turns[0].condensed


def test_budget_too_small_for_header_gives_empty_block() -> None:
    result = context("summary", [turn(1)], total_max_tokens=5)
    assert result.text == "" and result.tokens == 0
