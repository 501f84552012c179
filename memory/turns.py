"""A conversation turn: the user's message, the tools called, the assistant's answer.

Memory keeps, drops and summarises whole turns, so a tool call never loses its result.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_DIGEST_CHARS", "ToolCallRecord", "Turn", "digest_result", "render_turn"]

DEFAULT_DIGEST_CHARS = 2_000
"""How many characters of a tool result ``digest_result`` keeps by default."""

_CUT_MARK = " …[cut]"


def _new_id() -> str:
    return uuid.uuid4().hex


def digest_result(value: Any, *, max_chars: int = DEFAULT_DIGEST_CHARS) -> str:
    """Turn a tool result into short text for memory.

    Strings are kept as they are; pydantic models, dicts and lists become compact JSON
    (other objects their ``str``). Text longer than ``max_chars`` is cut and marked.

    Args:
        value: the tool's result.
        max_chars: the most characters kept (at least 16).

    Returns:
        The digest.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            text = str(value)
    limit = max(16, max_chars)
    if len(text) > limit:
        return text[: limit - len(_CUT_MARK)] + _CUT_MARK
    return text


class ToolCallRecord(BaseModel):
    """One tool call of a turn, with its digested result.

    Attributes:
        name: the tool's name.
        args: the arguments it was called with (JSON-friendly).
        result: the digested result (see :func:`digest_result`); empty on error.
        error: the error message when the call failed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    result: str = ""
    error: str | None = None


class Turn(BaseModel):
    """One exchange: a user message, the tool calls it caused, and the answer.

    ``Turn(user_message=..., assistant_response=..., ts=...)`` (the names of
    ``penguiflow.planner.memory.ConversationTurn``) builds the same turn.

    Attributes:
        id: a unique id; merges of concurrent writers go by it.
        user: the user's message.
        assistant: the assistant's final answer.
        tool_calls: the tools called during the turn, in order.
        created_at: wall-clock time the turn was recorded.
        condensed: ``True`` when memory shortened the turn to fit the budget.
        meta: free-form JSON-friendly metadata (run id, trace id, ...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(default_factory=_new_id)
    user: str = Field(validation_alias=AliasChoices("user", "user_message"))
    assistant: str = Field(
        default="", validation_alias=AliasChoices("assistant", "assistant_response")
    )
    tool_calls: tuple[ToolCallRecord, ...] = ()
    created_at: float = Field(
        default_factory=time.time, validation_alias=AliasChoices("created_at", "ts")
    )
    condensed: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def user_message(self) -> str:
        """The user's message (the documented name of :attr:`user`)."""
        return self.user

    @property
    def assistant_response(self) -> str:
        """The answer (the documented name of :attr:`assistant`)."""
        return self.assistant


def _args_text(args: dict[str, Any]) -> str:
    if not args:
        return "{}"
    return json.dumps(args, default=str, ensure_ascii=False, separators=(",", ":"))


def render_turn(turn: Turn) -> str:
    """Render a turn as the text shown to the LLM (and counted against the budget).

    Args:
        turn: the turn.

    Returns:
        Lines ``User: ...``, one per tool call, and ``Assistant: ...``.
    """
    lines = [f"User: {turn.user}"]
    for call in turn.tool_calls:
        if call.error is not None:
            lines.append(f"Tool {call.name}({_args_text(call.args)}) failed: {call.error}")
        else:
            lines.append(f"Tool {call.name}({_args_text(call.args)}) -> {call.result}")
    lines.append(f"Assistant: {turn.assistant}")
    return "\n".join(lines)
