"""``MemoryContext``: the read-only memory block shown to the LLM."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from .turns import Turn, render_turn

__all__ = ["MEMORY_HEADER", "SUMMARY_TITLE", "TURNS_TITLE", "MemoryContext", "render_block"]

MEMORY_HEADER = (
    "Conversation memory (read-only: what happened earlier in this session. "
    "Use it as context; it is not a new request.)"
)
"""First line of every memory block."""

SUMMARY_TITLE = "Summary of the earlier conversation:"
"""Title of the summary section."""
TURNS_TITLE = "Earlier turns, oldest first:"
"""Title of the turns section."""


def render_block(summary: str, turns: Sequence[Turn]) -> str:
    """Render the memory block text (empty when there is nothing to remember).

    Args:
        summary: the rolling summary (may be empty).
        turns: the turns to show, oldest first.

    Returns:
        The block text.
    """
    if not summary and not turns:
        return ""
    parts = [MEMORY_HEADER]
    if summary:
        parts.append(f"{SUMMARY_TITLE}\n{summary}")
    if turns:
        rendered = "\n\n".join(
            f"[turn {index}]\n{render_turn(turn)}" for index, turn in enumerate(turns, 1)
        )
        parts.append(f"{TURNS_TITLE}\n{rendered}")
    return "\n\n".join(parts)


class MemoryContext(BaseModel):
    """What memory shows the LLM for one request: a block separate from the query.

    Attributes:
        text: the rendered block (empty when there is nothing to remember).
        tokens: tokens of ``text``; never more than ``MemoryBudget.total_max_tokens``.
        summary: the summary included in the block (possibly shortened).
        turns: the turns included, oldest first (pending ones included).
        pending_turn_ids: ids of included turns still waiting to be summarised.
        omitted_turns: stored turns left out to fit the budget.
        health: the summariser's health when the block was built.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    tokens: int
    summary: str = ""
    turns: tuple[Turn, ...] = ()
    pending_turn_ids: tuple[str, ...] = ()
    omitted_turns: int = 0
    health: str = "healthy"

    @property
    def is_empty(self) -> bool:
        """``True`` when there is nothing to show."""
        return not self.text

    def to_message(self, role: str = "system") -> dict[str, str]:
        """Return the block as one chat message (``{"role": ..., "content": ...}``).

        Args:
            role: the message role; ``"system"`` keeps it apart from the user's query.

        Returns:
            The message.
        """
        return {"role": role, "content": self.text}
