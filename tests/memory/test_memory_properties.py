"""Property tests: no budget setting or turn size makes enforcement loop or overflow."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penguiflow.memory import MemoryBudget, ShortTermMemory, ShortTermMemoryConfig
from penguiflow.memory.strategies import build_context
from penguiflow.memory.tokens import TokenCounter
from penguiflow.memory.turns import ToolCallRecord, Turn

COUNTER = TokenCounter("gpt-4o")
COUNTER.count("warm up")

texts = st.builds(
    lambda seed, repeat: (seed or "w") * repeat,
    st.text(max_size=12),
    st.one_of(st.integers(0, 40), st.integers(0, 3_000), st.just(4_000)),
)
calls = st.builds(
    lambda name, arg, result, failed: ToolCallRecord(
        name=name or "t",
        args={"q": arg} if arg else {},
        result="" if failed else result,
        error=result if failed else None,
    ),
    st.text(min_size=0, max_size=8),
    texts,
    texts,
    st.booleans(),
)
turns = st.builds(
    lambda user, assistant, tool_calls: Turn(
        user=user, assistant=assistant, tool_calls=tuple(tool_calls)
    ),
    texts,
    texts,
    st.lists(calls, max_size=3),
)
budgets = st.builds(
    lambda zone, summary, total, policy: MemoryBudget(
        full_zone_turns=zone,
        summary_max_tokens=summary,
        total_max_tokens=total,
        overflow_policy=policy,
    ),
    st.integers(1, 6),
    st.one_of(st.integers(0, 50), st.integers(0, 5_000)),
    st.one_of(st.integers(1, 60), st.integers(1, 20_000)),
    st.sampled_from(["truncate_oldest", "truncate_summary"]),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    summary=texts,
    pending=st.lists(turns, max_size=3),
    recent=st.lists(turns, max_size=4),
    budget=budgets,
)
def test_block_always_fits_and_keeps_whole_newest_turns(
    summary: str, pending: list[Turn], recent: list[Turn], budget: MemoryBudget
) -> None:
    context = build_context(
        summary=summary, pending=pending, recent=recent, budget=budget, counter=COUNTER
    )
    assert context.tokens == COUNTER.count(context.text)
    assert context.tokens <= budget.total_max_tokens
    assert COUNTER.count(context.summary) <= budget.summary_max_tokens
    all_turns = [*pending, *recent]
    shown = list(context.turns)
    assert len(shown) + context.omitted_turns == len(all_turns)
    if shown:
        # The shown turns are the newest ones, in order; only the oldest shown may be
        # condensed (when it is the only one that fits).
        tail = all_turns[len(all_turns) - len(shown) :]
        assert [t.id for t in shown] == [t.id for t in tail]
        assert shown[1:] == tail[1:]
        assert shown[0] == tail[0] or shown[0].condensed


class _InstantSummarizer:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def complete(self, **kwargs: object) -> str:
        return self.reply


async def _run_memory(
    strategy: str, budget: MemoryBudget, added: list[Turn], reply: str
) -> tuple[int, int, int]:
    config = ShortTermMemoryConfig(strategy=strategy, budget=budget)  # type: ignore[arg-type]
    memory = ShortTermMemory(
        config, summarizer=_InstantSummarizer(reply or "s"), token_counter=COUNTER
    )
    async with memory:
        for item in added:
            stored = await memory.add_turn(item)
            assert stored.id == item.id
            assert COUNTER.count(stored.user) <= budget.total_max_tokens
            context = await memory.get_llm_context()
            assert context.tokens <= budget.total_max_tokens
        await memory.flush()
        context = await memory.get_llm_context()
        assert len(memory.turns) <= budget.full_zone_turns
        assert COUNTER.count(memory.summary) <= budget.summary_max_tokens
    return context.tokens, len(memory.turns), len(memory.pending)


@SETTINGS
@given(
    strategy=st.sampled_from(["truncation", "rolling_summary"]),
    budget=budgets,
    added=st.lists(turns, min_size=1, max_size=6),
    reply=texts,
)
def test_memory_enforcement_terminates_within_budget(
    strategy: str, budget: MemoryBudget, added: list[Turn], reply: str
) -> None:
    tokens, kept, pending = asyncio.run(
        asyncio.wait_for(_run_memory(strategy, budget, added, reply), timeout=120)
    )
    assert tokens <= budget.total_max_tokens
    assert kept == min(len(added), budget.full_zone_turns)
    assert pending == 0
