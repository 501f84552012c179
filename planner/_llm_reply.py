"""Reading litellm's replies: tool calls, usage, finish reasons (no litellm import).

litellm returns its own objects (``ModelResponse``, ``ChatCompletionMessageToolCall``)
or, from some code paths, plain dicts; these helpers read both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._llm_errors import BadReply, FilteredReply
from .llm_types import ToolCall, Usage

__all__ = [
    "finish_reason_of",
    "format_sent",
    "message_of",
    "message_tool_calls",
    "priced",
    "text_or_none",
    "tool_calls_of",
    "usage_of",
]


def message_of(response: Any) -> tuple[str, tuple[ToolCall, ...]]:
    """Return the text and tool calls of a complete (not streamed) reply.

    Raises:
        FilteredReply: the provider's content filter removed the reply.
        BadReply: the reply has no choice, or neither text nor tool calls.
    """
    choices = getattr(response, "choices", None)
    if not choices:
        raise BadReply("the reply has no choices")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    calls = tool_calls_of(getattr(message, "tool_calls", None))
    finish = getattr(choices[0], "finish_reason", None)
    if finish == "content_filter" and not text and not calls:
        raise FilteredReply(f"finish_reason={finish!r}")
    if not isinstance(text, str) and not calls:
        refusal = getattr(message, "refusal", None)
        reason = f"the model refused: {refusal}" if refusal else "the reply has no text"
        raise BadReply(f"{reason} (finish_reason={finish!r})")
    return (text if isinstance(text, str) else ""), calls


def priced(response: Any) -> float | None:
    """Return the price litellm already put on the reply (``response_cost``), if any."""
    hidden = getattr(response, "_hidden_params", None)
    known = hidden.get("response_cost") if isinstance(hidden, Mapping) else None
    if isinstance(known, int | float) and not isinstance(known, bool):
        return float(known)
    return None


def tool_calls_of(raw: Any) -> tuple[ToolCall, ...]:
    """Return a message's tool calls (``ChatCompletionMessageToolCall``s or dicts)."""
    if not raw:
        return ()
    calls: list[ToolCall] = []
    for index, item in enumerate(raw):
        function = _field(item, "function")
        name = _field(function, "name")
        if not isinstance(name, str) or not name:
            continue
        arguments = _field(function, "arguments")
        if not isinstance(arguments, str):
            arguments = "{}" if arguments is None else json.dumps(arguments)
        call_id = _field(item, "id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                name=name,
                arguments=arguments or "{}",
            )
        )
    return tuple(calls)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def message_tool_calls(response: Any) -> Any:
    """Return the raw tool calls of the first choice of a (rebuilt) response."""
    choices = getattr(response, "choices", None)
    if not choices:
        return None
    return getattr(getattr(choices[0], "message", None), "tool_calls", None)


def finish_reason_of(response: Any) -> Any:
    """Return the finish reason of the first choice of a response."""
    choices = getattr(response, "choices", None)
    return getattr(choices[0], "finish_reason", None) if choices else None


def usage_of(usage: Any) -> Usage:
    """Return litellm's usage object (or dict) as a :class:`Usage`."""
    if usage is None:
        return Usage()

    def count(name: str) -> int:
        value = getattr(usage, name, None)
        if value is None and isinstance(usage, Mapping):
            value = usage.get(name)
        return int(value) if isinstance(value, int | float) else 0

    return Usage(
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
        total_tokens=count("total_tokens"),
    )


def format_sent(request: Mapping[str, Any]) -> str:
    """The ``type`` of the request's ``response_format`` (``"none"`` without one)."""
    sent = request.get("response_format")
    if isinstance(sent, Mapping) and isinstance(sent.get("type"), str):
        return str(sent["type"])
    return "none"


def text_or_none(value: Any) -> str | None:
    """``value`` if it is a non-empty string (a finish reason), else ``None``."""
    return value if isinstance(value, str) and value else None
