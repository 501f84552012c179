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

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

from penguiflow.errors import ConfigError

from ._offline import check_tool_pairs, finish, in_dialect, new_call_id, record
from ._test_llm import TestLLM, called_tools
from .errors import ScriptExhaustedError
from .llm_types import LLMRequest, LLMResponse, StreamCallback, ToolCall, ToolChoice

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


def _as_reply(reply: Reply) -> str | LLMResponse:
    if isinstance(reply, str | LLMResponse):
        return reply
    if isinstance(reply, Mapping):
        return json.dumps(dict(reply))
    raise TypeError(
        f"an offline LLM reply must be str, dict or LLMResponse, got {type(reply).__name__}"
    )


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
