"""The persisted memory state (versioned schema) and the changes applied to it.

Each change is a pure function from a state to a new state, so a writer that loses a
version race reloads the stored state and applies its change again (turns merge by id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import MemoryStateError
from .strategies import split_zone
from .turns import Turn

__all__ = [
    "STATE_SCHEMA_VERSION",
    "Change",
    "MemoryState",
    "add_turn",
    "apply_summary",
    "drop_pending",
    "parse_state",
]

STATE_SCHEMA_VERSION = 1
"""Version of the stored state layout; a newer stored version is refused."""


class MemoryState(BaseModel):
    """What a store keeps for one memory key.

    Attributes:
        schema_version: layout version of this record.
        summary: the rolling summary.
        summary_rev: bumped on every summary change; a summary computed from an older
            revision is discarded instead of overwriting a newer one.
        summarized_turns: how many turns were folded into the summary so far.
        dropped_turns: how many turns were dropped without a summary.
        pending: turns that left the full zone and wait to be summarised, oldest first.
        recent: the full-zone turns, oldest first.
        updated_at: wall-clock time of the last change.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = STATE_SCHEMA_VERSION
    summary: str = ""
    summary_rev: int = 0
    summarized_turns: int = 0
    dropped_turns: int = 0
    pending: tuple[Turn, ...] = ()
    recent: tuple[Turn, ...] = ()
    updated_at: float = Field(default_factory=time.time)

    def turn_ids(self) -> set[str]:
        """Ids of every turn held (pending and recent)."""
        return {t.id for t in self.pending} | {t.id for t in self.recent}


Change = Callable[[MemoryState], MemoryState | None]
"""A change to a state; ``None`` means it no longer applies and nothing is saved."""


def parse_state(data: dict[str, Any] | None, *, key: str) -> MemoryState:
    """Read a stored state.

    Args:
        data: the stored JSON object (``None`` for nothing stored).
        key: the key text, for error messages.

    Returns:
        The state (empty when nothing is stored).

    Raises:
        MemoryStateError: the record is damaged or from a newer schema.
    """
    if data is None:
        return MemoryState()
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or version < 1:
        raise MemoryStateError(key=key, detail=f"bad schema_version {version!r}")
    if version > STATE_SCHEMA_VERSION:
        raise MemoryStateError(
            key=key,
            detail=f"schema_version {version} is newer than {STATE_SCHEMA_VERSION}",
        )
    try:
        return MemoryState.model_validate(data)
    except ValidationError as exc:
        raise MemoryStateError(key=key, detail=f"{exc.error_count()} invalid field(s)") from None


def add_turn(turn: Turn, *, full_zone_turns: int, to_pending: bool, max_pending: int) -> Change:
    """Append ``turn`` (unless a turn with its id is already held) and apply the zone.

    Args:
        turn: the turn.
        full_zone_turns: how many latest turns stay word for word.
        to_pending: move turns leaving the zone to ``pending`` (rolling summary) instead
            of dropping them.
        max_pending: the most pending turns kept; older ones are dropped.

    Returns:
        The change.
    """

    def change(state: MemoryState) -> MemoryState | None:
        if turn.id in state.turn_ids():
            return None
        overflow, recent = split_zone([*state.recent, turn], full_zone_turns)
        pending = list(state.pending)
        dropped = state.dropped_turns
        if to_pending:
            pending.extend(overflow)
        else:
            dropped += len(overflow)
        if len(pending) > max_pending:
            dropped += len(pending) - max_pending
            pending = pending[-max_pending:]
        return state.model_copy(
            update={
                "pending": tuple(pending),
                "recent": tuple(recent),
                "dropped_turns": dropped,
                "updated_at": time.time(),
            }
        )

    return change


def apply_summary(*, base_rev: int, turn_ids: Iterable[str], summary: str) -> Change:
    """Replace the summary and remove the summarised turns from ``pending``.

    Args:
        base_rev: the ``summary_rev`` the summary was computed from.
        turn_ids: the turns folded into it.
        summary: the new summary.

    Returns:
        The change; it does not apply if someone changed the summary meanwhile.
    """
    ids = frozenset(turn_ids)

    def change(state: MemoryState) -> MemoryState | None:
        if state.summary_rev != base_rev:
            return None
        kept = tuple(t for t in state.pending if t.id not in ids)
        return state.model_copy(
            update={
                "summary": summary,
                "summary_rev": state.summary_rev + 1,
                "summarized_turns": state.summarized_turns + len(state.pending) - len(kept),
                "pending": kept,
                "updated_at": time.time(),
            }
        )

    return change


def drop_pending(turn_ids: Iterable[str]) -> Change:
    """Drop pending turns without a summary (the summariser is failing).

    Args:
        turn_ids: the turns to drop.

    Returns:
        The change.
    """
    ids = frozenset(turn_ids)

    def change(state: MemoryState) -> MemoryState | None:
        kept = tuple(t for t in state.pending if t.id not in ids)
        if len(kept) == len(state.pending):
            return None
        return state.model_copy(
            update={
                "pending": kept,
                "dropped_turns": state.dropped_turns + len(state.pending) - len(kept),
                "updated_at": time.time(),
            }
        )

    return change
