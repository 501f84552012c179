"""Budget enforcement on whole turns: zones, condensing huge turns, building the block.

Every function here is pure and finishes in a bounded number of steps whatever the
budget: each loop either removes a turn, shortens text by a fixed rule, or stops after a
fixed number of rounds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .config import MemoryBudget
from .context import MEMORY_HEADER, SUMMARY_TITLE, TURNS_TITLE, MemoryContext, render_block
from .errors import MemoryBudgetError
from .tokens import TokenCounter
from .turns import ToolCallRecord, Turn, render_turn

__all__ = ["build_context", "condense_turn", "split_zone", "turn_tokens"]

_CUT_MARK = " …[cut]"
_MAX_CHARS_PER_TOKEN = 32
_CONDENSE_ROUNDS = 6


def _capped_count(counter: TokenCounter, text: str, cap: int) -> int:
    """Count ``text``, reading only a prefix when the text is far longer than ``cap``."""
    limit = (cap + 1) * _MAX_CHARS_PER_TOKEN
    if len(text) > limit:
        prefix = counter.count(text[:limit])
        if prefix > cap:
            return prefix
    return counter.count(text)


def turn_tokens(turn: Turn, counter: TokenCounter) -> int:
    """Tokens of a turn as rendered for the LLM.

    Args:
        turn: the turn.
        counter: the token counter.

    Returns:
        The token count.
    """
    return counter.count(render_turn(turn))


def split_zone(turns: Sequence[Turn], full_zone_turns: int) -> tuple[list[Turn], list[Turn]]:
    """Split turns into those leaving the full zone and the ones kept word for word.

    Args:
        turns: the turns, oldest first.
        full_zone_turns: how many of the latest turns stay.

    Returns:
        ``(overflow, kept)``, both oldest first.
    """
    cut = max(0, len(turns) - full_zone_turns)
    return list(turns[:cut]), list(turns[cut:])


def _fields(turn: Turn) -> list[str]:
    texts = [turn.user, turn.assistant]
    for call in turn.tool_calls:
        args = json.dumps(call.args, default=str, ensure_ascii=False) if call.args else ""
        texts.extend([args, call.result, call.error or ""])
    return texts


def _rebuild(turn: Turn, texts: list[str]) -> Turn:
    calls: list[ToolCallRecord] = []
    for index, call in enumerate(turn.tool_calls):
        args_text, result, error = texts[2 + 3 * index : 5 + 3 * index]
        args: dict[str, Any] = call.args
        if call.args and args_text != json.dumps(call.args, default=str, ensure_ascii=False):
            args = {"truncated_args": args_text}
        calls.append(
            call.model_copy(
                update={
                    "args": args,
                    "result": result,
                    "error": error if call.error is not None else None,
                }
            )
        )
    return turn.model_copy(
        update={
            "user": texts[0],
            "assistant": texts[1],
            "tool_calls": tuple(calls),
            "condensed": True,
        }
    )


def _allot(needs: list[int], available: int) -> list[int]:
    """Share ``available`` tokens among fields, smallest needs first (water-filling)."""
    shares = [0] * len(needs)
    remaining = max(0, available)
    order = sorted(range(len(needs)), key=lambda i: needs[i])
    for position, index in enumerate(order):
        fair = remaining // (len(order) - position)
        shares[index] = min(needs[index], fair)
        remaining -= shares[index]
    return shares


def _shrink(turn: Turn, available: int, counter: TokenCounter) -> Turn:
    texts = _fields(turn)
    needs = [_capped_count(counter, text, available) for text in texts]
    shares = _allot(needs, available)
    mark = counter.count(_CUT_MARK)
    cut: list[str] = []
    for text, need, share in zip(texts, needs, shares, strict=True):
        if share >= need:
            cut.append(text)
        elif share > mark:
            head = text[: (share + 1) * _MAX_CHARS_PER_TOKEN]
            cut.append(counter.truncate(head, share - mark) + _CUT_MARK)
        else:
            cut.append("")
    return _rebuild(turn, cut)


def condense_turn(turn: Turn, max_tokens: int, counter: TokenCounter) -> Turn | None:
    """Shorten a turn so it renders in at most ``max_tokens`` tokens.

    The text fields (user message, answer, tool arguments, results and errors) share
    the room fairly: short fields stay whole, long ones are cut and marked ``…[cut]``.
    Tool calls are kept with their results (possibly emptied), never split.

    Args:
        turn: the turn.
        max_tokens: the most tokens the rendered turn may take.
        counter: the token counter.

    Returns:
        The turn itself when it fits, a condensed copy (``condensed=True``), or ``None``
        when not even an empty turn fits.
    """
    if max_tokens <= 0:
        return None
    if _capped_count(counter, render_turn(turn), max_tokens) <= max_tokens:
        return turn
    empty = _rebuild(turn, [""] * len(_fields(turn)))
    overhead = turn_tokens(empty, counter)
    if overhead > max_tokens:
        bare = empty.model_copy(update={"tool_calls": ()})
        return bare if turn_tokens(bare, counter) <= max_tokens else None
    available = max_tokens - overhead
    for _ in range(_CONDENSE_ROUNDS):
        candidate = _shrink(turn, available, counter)
        used = turn_tokens(candidate, counter)
        if used <= max_tokens:
            return candidate
        available -= used - max_tokens + 1
        if available <= 0:
            break
    return empty


def _block_tokens(summary: str, turns: Sequence[Turn], counter: TokenCounter) -> int:
    return counter.count(render_block(summary, turns))


def _select_turns(
    turns: Sequence[Turn], room: int, counter: TokenCounter
) -> tuple[list[Turn], int]:
    """Keep the newest turns that fit in ``room`` tokens; condense the newest if needed."""
    selected: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        cost = turn_tokens(turn, counter) + 8  # separator and "[turn N]" line
        if used + cost > room:
            break
        selected.insert(0, turn)
        used += cost
    if not selected and turns:
        condensed = condense_turn(turns[-1], room - 8, counter)
        if condensed is not None:
            selected = [condensed]
    return selected, len(turns) - len(selected)


def build_context(
    *,
    summary: str,
    pending: Sequence[Turn],
    recent: Sequence[Turn],
    budget: MemoryBudget,
    counter: TokenCounter,
    health: str = "healthy",
) -> MemoryContext:
    """Build the memory block within ``budget.total_max_tokens``.

    Turns are shown whole, newest kept first; the newest turn is condensed when it does
    not fit on its own. ``truncate_oldest`` keeps the summary and drops old turns;
    ``truncate_summary`` shortens the summary first; ``error`` raises instead.

    Args:
        summary: the rolling summary.
        pending: turns waiting to be summarised, oldest first.
        recent: the full-zone turns, oldest first.
        budget: the limits.
        counter: the token counter.
        health: the summariser health to record on the context.

    Returns:
        The context; ``tokens <= budget.total_max_tokens`` always holds.

    Raises:
        MemoryBudgetError: ``overflow_policy="error"`` and the block is over budget.
    """
    total = budget.total_max_tokens
    summary = counter.truncate(summary, budget.summary_max_tokens)
    turns = [*pending, *recent]
    full_tokens = _block_tokens(summary, turns, counter)
    if full_tokens <= total:
        selected, omitted = turns, 0
    elif budget.overflow_policy == "error":
        raise MemoryBudgetError(tokens=full_tokens, total_max_tokens=total)
    else:
        head = counter.count(MEMORY_HEADER) + counter.count(TURNS_TITLE) + 4
        summary_overhead = counter.count(SUMMARY_TITLE) + 2
        allowance = total - head - summary_overhead
        if budget.overflow_policy == "truncate_summary":
            allowance -= sum(turn_tokens(t, counter) + 8 for t in turns)
        summary = counter.truncate(summary, allowance)
        room = total - head - (counter.count(summary) + summary_overhead if summary else 0)
        selected, omitted = _select_turns(turns, room, counter)
    # Final check on the exact text; each round drops a turn or halves the summary.
    while True:
        text = render_block(summary, selected)
        tokens = counter.count(text)
        if tokens <= total:
            break
        if len(selected) > 1:
            selected = selected[1:]
            omitted += 1
        elif summary:
            summary = counter.truncate(summary, counter.count(summary) // 2)
        elif selected:
            shorter = condense_turn(selected[0], turn_tokens(selected[0], counter) // 2, counter)
            if shorter is None or shorter == selected[0]:
                selected, omitted = [], omitted + 1
            else:
                selected = [shorter]
        else:
            text, tokens = "", 0
            break
    pending_ids = {turn.id for turn in pending}
    return MemoryContext(
        text=text,
        tokens=tokens,
        summary=summary,
        turns=tuple(selected),
        pending_turn_ids=tuple(t.id for t in selected if t.id in pending_ids),
        omitted_turns=omitted,
        health=health,
    )
