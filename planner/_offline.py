"""What the offline clients share: tool-call ids, the pairing check, both dialects.

A scripted JSON action sent to a native request becomes the same tool calls
(:func:`in_dialect`), so one script drives a planner in either ``tool_mode``; a native
request whose tool calls and results do not pair up is refused, as a provider would.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .actions import FINAL_RESPONSE
from .errors import LLMBadRequestError
from .llm_types import (
    LLMRequest,
    LLMResponse,
    StreamCallback,
    ToolCall,
    ToolChoice,
    deliver_chunk,
    split_for_stream,
)
from .parse import parse_action

__all__ = ["check_tool_pairs", "finish", "in_dialect", "new_call_id", "record"]


def new_call_id() -> str:
    """A fresh tool-call id, shaped like the providers' (unique across processes)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def check_tool_pairs(messages: Sequence[Mapping[str, Any]]) -> None:
    """Check that every tool call is answered by one tool message, as providers require.

    Each assistant message with ``tool_calls`` must be followed, before any other
    message, by one ``tool`` message per call id; a tool message must answer a call.

    Raises:
        LLMBadRequestError: the messages break the rule (what a provider answers with
            HTTP 400).
    """
    waiting: list[str] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in waiting:
                raise _pairing_error(f"message {position} answers unknown call {call_id!r}")
            waiting.remove(call_id)
            continue
        if waiting:
            raise _pairing_error(
                f"tool call(s) {', '.join(waiting)} have no tool message before message {position}"
            )
        for call in message.get("tool_calls") or ():
            waiting.append(call["id"])
    if waiting:
        raise _pairing_error(f"tool call(s) {', '.join(waiting)} have no tool message")


def _pairing_error(detail: str) -> LLMBadRequestError:
    return LLMBadRequestError(
        f"an assistant message with tool_calls must be followed by one tool message per "
        f"tool_call_id: {detail}",
        model="offline",
        status_code=400,
    )


def _calls_of_action(text: str, offered: Sequence[str]) -> tuple[str, list[ToolCall]] | None:
    """The native form of a JSON action (``(text, calls)``), or ``None`` if not an action."""
    action = parse_action(text).action
    if action is None:
        return None
    args = action.args
    if action.kind == "final":
        if FINAL_RESPONSE in offered:
            return "", [ToolCall(new_call_id(), FINAL_RESPONSE, json.dumps(args))]
        answer = args.get("answer", args.get("raw_answer"))
        return (answer, []) if isinstance(answer, str) else None
    if action.kind == "parallel":
        steps = args.get("steps")
        if not isinstance(steps, list) or not all(isinstance(s, Mapping) for s in steps):
            return None
        calls = [
            ToolCall(new_call_id(), str(s.get("node")), json.dumps(s.get("args") or {}))
            for s in steps
        ]
        return action.thought or "", calls
    return action.thought or "", [ToolCall(new_call_id(), action.next_node, json.dumps(args))]


def in_dialect(reply: str | LLMResponse, request: LLMRequest) -> str | LLMResponse:
    """Answer a native request with tool calls when ``reply`` is a JSON action.

    Other replies (text that is not an action, replies that already make tool calls,
    and every reply to a JSON-mode request) are returned unchanged. A ``parallel``
    action becomes one call per step (its ``join`` has no native form and is dropped); a
    ``final_response`` becomes the answer text, or a ``final_response`` call when the
    request offers that tool.
    """
    if request.tools is None:
        return reply
    response = reply if isinstance(reply, LLMResponse) else LLMResponse(reply)
    if response.tool_calls:
        return reply
    native = _calls_of_action(response.text, request.tool_names)
    if native is None:
        return reply
    text, calls = native
    return dataclasses.replace(response, text=text, tool_calls=tuple(calls))


async def finish(
    reply: str | LLMResponse, stream: bool, on_stream_chunk: StreamCallback | None
) -> str | LLMResponse:
    """Stream ``reply``'s text in a few chunks when asked to, then return it."""
    if stream and on_stream_chunk is not None:
        text = reply.text if isinstance(reply, LLMResponse) else reply
        for piece in split_for_stream(text):
            await deliver_chunk(on_stream_chunk, piece, False)
        await deliver_chunk(on_stream_chunk, "", True)
    return reply


def record(
    messages: list[dict[str, Any]],
    response_format: dict[str, Any] | None,
    stream: bool,
    tools: list[dict[str, Any]] | None,
    tool_choice: ToolChoice | None,
) -> LLMRequest:
    """Record a request (checking the tool-call pairs of a native one)."""
    request = LLMRequest([dict(m) for m in messages], response_format, stream, tools, tool_choice)
    if tools is not None:
        check_tool_pairs(messages)
    return request
