"""``get_llm_context(max_tokens=...)``: the planner's tighter limit for one block."""

from __future__ import annotations

from penguiflow.memory import MemoryBudget, ShortTermMemory, ShortTermMemoryConfig
from penguiflow.memory.tokens import get_token_counter
from penguiflow.memory.turns import Turn

CONFIG = ShortTermMemoryConfig(
    strategy="truncation",
    budget=MemoryBudget(full_zone_turns=10, total_max_tokens=5000),
    tokenizer_model="gpt-4o",
)


async def test_max_tokens_tightens_the_budget_for_one_block() -> None:
    async with ShortTermMemory(CONFIG) as memory:
        for i in range(6):
            await memory.add_turn(Turn(user=f"question {i} " + "word " * 40, assistant="ok"))
        full = await memory.get_llm_context()
        assert full.omitted_turns == 0
        tight = await memory.get_llm_context(max_tokens=full.tokens // 2)
        assert 0 < tight.tokens <= full.tokens // 2
        assert tight.omitted_turns > 0
        assert tight.turns[-1] == full.turns[-1]  # the newest turns are kept
        assert get_token_counter("gpt-4o").count(tight.text) == tight.tokens
        # a looser limit than the budget changes nothing
        assert (await memory.get_llm_context(max_tokens=10**6)).text == full.text


async def test_no_room_gives_an_empty_block() -> None:
    async with ShortTermMemory(CONFIG) as memory:
        await memory.add_turn(Turn(user="hello", assistant="hi"))
        for limit in (0, -3):
            block = await memory.get_llm_context(max_tokens=limit)
            assert block.is_empty and block.tokens == 0 and block.omitted_turns == 1
