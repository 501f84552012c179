"""Offline LLM clients for tests, demos and examples: no network, no API key.

* :class:`ScriptedLLM` replies from a list, in order, and records every request.
* :class:`FunctionLLM` lets a function of yours compute each reply.
* :class:`TestLLM` needs no script: it reads the tools of each request, calls every
  tool once with arguments derived from its JSON schema, then gives a final answer.

All three implement :class:`~penguiflow.planner.llm_types.LLMClient` in both dialects:
JSON actions, and native tool calls (a request with ``tools``). A scripted JSON action
sent to a native request is turned into the equivalent tool calls, so one script drives
a planner in either ``tool_mode``; :func:`tool_reply` writes a tool-call reply directly.
Like a provider, they refuse a native request whose tool calls and tool results do not
pair up (:func:`check_tool_pairs`). They stream their text in a few chunks when asked
to, and are ignored by pytest's collection.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

from penguiflow.errors import ConfigError

from ._test_llm import TestLLM, called_tools
from .actions import FINAL_RESPONSE
from .errors import LLMBadRequestError, ScriptExhaustedError
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

__all__ = [
    "FunctionLLM",
    "Reply",
    "ScriptedLLM",
    "TestLLM",
    "called_tools",
    "check_tool_pairs",
    "tool_reply",
]

Reply: TypeAlias = str | Mapping[str, Any] | LLMResponse
"""What an offline client can answer: text, a dict (sent as JSON) or an LLMResponse."""

ScriptItem: TypeAlias = Reply | BaseException | type[BaseException]
ReplyFunction: TypeAlias = Callable[..., Reply | Awaitable[Reply]]


def new_call_id() -> str:
    """A fresh tool-call id, shaped like the providers' (unique across processes)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_reply(
    *calls: tuple[str, Mapping[str, Any]] | ToolCall, text: str = "", **fields: Any
) -> LLMResponse:
    """Build a reply that makes native tool calls (for scripts and reply functions).

    Args:
        *calls: ``(tool name, arguments)`` pairs, or :class:`ToolCall`s (to give ids
            or malformed arguments yourself).
        text: text written beside the calls.
        **fields: other :class:`LLMResponse` fields (``usage``, ``cost_usd``...).

    Example:
        >>> tool_reply(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}))
        ... # doctest: +SKIP
    """
    made = tuple(
        call
        if isinstance(call, ToolCall)
        else ToolCall(new_call_id(), call[0], json.dumps(dict(call[1])))
        for call in calls
    )
    return LLMResponse(text, tool_calls=made, **fields)


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


def _as_reply(reply: Reply) -> str | LLMResponse:
    if isinstance(reply, str | LLMResponse):
        return reply
    if isinstance(reply, Mapping):
        return json.dumps(dict(reply))
    raise TypeError(
        f"an offline LLM reply must be str, dict or LLMResponse, got {type(reply).__name__}"
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


class ScriptedLLM:
    """Replies from a script, in order, and records every request.

    Each script item is returned (``str`` as-is, a ``dict`` as JSON text, an
    :class:`~penguiflow.planner.llm_types.LLMResponse` unchanged) or, for an exception,
    raised. To a native request (one with ``tools``), a JSON action is answered with
    the equivalent tool calls (see :func:`in_dialect`). Concurrent runs sharing one
    ScriptedLLM take replies in call order; use one client per run when the order
    matters.

    Args:
        replies: the script.
        tool_calling: whether to declare native tool calling, which a planner with
            ``tool_mode="auto"`` goes by; ``None``: when a scripted reply makes tool calls.

    Attributes:
        requests: every request received, in order.

    Raises:
        ScriptExhaustedError: (from :meth:`complete`) a request arrived after the last
            reply was used.
    """

    __test__ = False

    def __init__(self, replies: Sequence[ScriptItem], *, tool_calling: bool | None = None) -> None:
        if isinstance(replies, str | bytes | Mapping):
            raise ConfigError(
                f"ScriptedLLM(replies=...) takes a list of replies, got a single "
                f"{type(replies).__name__}; wrap it in a list"
            )
        self._replies: list[ScriptItem] = list(replies)
        self._next = 0
        if tool_calling is None:
            tool_calling = any(
                isinstance(item, LLMResponse) and item.tool_calls for item in self._replies
            )
        self.tool_calling = tool_calling
        self.requests: list[LLMRequest] = []

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._replies) - self._next

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> str | LLMResponse:
        """Record the request and return (or raise) the next scripted reply.

        Raises:
            ScriptExhaustedError: the script has no reply left.
            LLMBadRequestError: a native request whose tool calls and results do not pair.
        """
        request = record(messages, response_format, stream, tools, tool_choice)
        self.requests.append(request)
        if self._next >= len(self._replies):
            raise ScriptExhaustedError(
                len(self._replies), len(self.requests), request.last_message[:200]
            )
        item = self._replies[self._next]
        self._next += 1
        if isinstance(item, BaseException) or (
            isinstance(item, type) and issubclass(item, BaseException)
        ):
            raise item
        return await finish(in_dialect(_as_reply(item), request), stream, on_stream_chunk)

    def __repr__(self) -> str:
        return f"ScriptedLLM(replies={len(self._replies)}, remaining={self.remaining})"


class FunctionLLM:
    """Computes each reply with ``fn(messages, response_format)``.

    ``fn`` may be sync or async (decided once, here) and returns a ``str``, a ``dict``
    (sent as JSON) or an :class:`~penguiflow.planner.llm_types.LLMResponse`; what it
    raises propagates to the caller. When ``fn`` has a ``tools`` parameter it also
    receives the request's native tool definitions (``None`` in JSON mode). To a native
    request, a JSON action is answered with the equivalent tool calls (see
    :func:`in_dialect`).

    Args:
        fn: the reply function.
        tool_calling: whether to declare native tool calling, which a planner with
            ``tool_mode="auto"`` goes by.

    Attributes:
        requests: every request received, in order.

    Raises:
        ConfigError: ``fn`` is not callable.
    """

    __test__ = False

    def __init__(self, fn: ReplyFunction, *, tool_calling: bool = False) -> None:
        if not callable(fn):
            raise ConfigError(
                f"FunctionLLM(fn) needs a function (messages, response_format) -> reply, "
                f"got {type(fn).__name__}"
            )
        self._fn = fn
        call = getattr(fn, "__call__", None)  # noqa: B004 - objects with async __call__
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)
        try:
            self._takes_tools = "tools" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self._takes_tools = False
        self.tool_calling = tool_calling
        self.requests: list[LLMRequest] = []

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> str | LLMResponse:
        """Record the request and return what ``fn`` computes for it.

        Raises:
            LLMBadRequestError: a native request whose tool calls and results do not pair.
        """
        request = record(messages, response_format, stream, tools, tool_choice)
        self.requests.append(request)
        if self._takes_tools:
            result: Any = self._fn(messages, response_format, tools=tools)
        else:
            result = self._fn(messages, response_format)
        if self._is_async:
            result = await result
        return await finish(in_dialect(_as_reply(result), request), stream, on_stream_chunk)

    def __repr__(self) -> str:
        return f"FunctionLLM({getattr(self._fn, '__qualname__', self._fn)!r})"
