"""The LLM client protocol and the reply types every client shares.

Any object with an async ``complete`` method of the shape below can drive the planner:
:class:`~penguiflow.planner.llm.LiteLLMClient` for real models, and
:mod:`penguiflow.planner.testing` for offline tests and demos. This module does not
import litellm.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "StreamCallback",
    "ToolCall",
    "ToolChoice",
    "Usage",
    "accepts_tools",
    "as_response",
    "complete_keywords",
    "declares_tool_calling",
    "deliver_chunk",
    "fit_request",
    "message_text",
    "split_for_stream",
    "tool_name",
]

StreamCallback: TypeAlias = Callable[[str, bool], Awaitable[None] | None]
"""``on_stream_chunk(text, done)``, sync or async.

Called with each text delta and ``done=False`` while the reply streams in, then once
with ``("", True)`` when the reply is complete.
"""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one LLM call, or a sum of several (``usage_a + usage_b``).

    Attributes:
        prompt_tokens: tokens sent to the model.
        completion_tokens: tokens the model generated.
        total_tokens: both together; computed from the other two when left at 0.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __post_init__(self) -> None:
        if self.total_tokens == 0 and (self.prompt_tokens or self.completion_tokens):
            object.__setattr__(self, "total_tokens", self.prompt_tokens + self.completion_tokens)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        """Return the counts as a JSON-friendly dict."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


ToolChoice: TypeAlias = str | dict[str, Any]
"""``"auto"``, ``"required"``, ``"none"`` or ``{"type": "function", "function": {"name": ...}}``."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One native tool call of a reply, as the provider sent it.

    Attributes:
        id: the provider's id of the call; the call's result goes back in a ``tool``
            message carrying it as ``tool_call_id``.
        name: the function called.
        arguments: the arguments as the provider sent them: JSON text, possibly malformed.
    """

    id: str
    name: str
    arguments: str = "{}"

    def to_message(self) -> dict[str, Any]:
        """Return the call as an entry of an assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A reply with its accounting; clients may also return a plain ``str``.

    Attributes:
        text: the reply text (in JSON mode, one JSON action; in native mode, the answer
            or the text written beside tool calls).
        usage: token counts reported by the provider (zeros when unknown).
        cost_usd: the price of the call in US dollars, when the client knows it.
        model: the model that answered, as reported by the provider.
        raw: the provider's own response object, for debugging; not compared or shown.
        tool_calls: the native tool calls of the reply, in order (empty for a text reply).
        finish_reason: why the reply ended, as the provider said (``"stop"``,
            ``"tool_calls"``, ``"length"`` when it was cut off at the token limit...);
            ``None`` when unknown.
        format_sent: the ``type`` of the ``response_format`` that reached the provider
            (``"json_schema"``, ``"json_object"``), ``"none"`` when the request carried
            none; ``None`` when the client does not say (the format asked for is
            assumed). A client that sends a weaker format than asked says so here.
    """

    text: str
    usage: Usage = Usage()
    cost_usd: float | None = None
    model: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    format_sent: str | None = None

    @property
    def cut_off(self) -> bool:
        """Whether the reply stopped at the token limit (``finish_reason == "length"``)."""
        return self.finish_reason == "length"

    def assistant_message(self) -> dict[str, Any]:
        """Return the reply as the assistant message of a chat (tool calls included)."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.text}
        return {
            "role": "assistant",
            "content": self.text or None,
            "tool_calls": [call.to_message() for call in self.tool_calls],
        }


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One request as an offline client recorded it.

    Attributes:
        messages: shallow copies of the chat messages that were sent.
        response_format: the requested output format, if any.
        stream: whether streaming was requested.
        tools: the native tool definitions offered (``None`` in JSON mode).
        tool_choice: the requested ``tool_choice``, if any.
    """

    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None

    @property
    def tool_names(self) -> list[str]:
        """The names of the offered tools, in order (empty in JSON mode)."""
        return [tool_name(tool) for tool in self.tools or ()]

    @property
    def last_message(self) -> str:
        """Return the text of the last message (``""`` when there is none)."""
        if not self.messages:
            return ""
        return message_text(self.messages[-1])


@runtime_checkable
class LLMClient(Protocol):
    """What the planner needs from an LLM client.

    Implementations must be safe to call concurrently: one planner serves many runs.

    Native tool calling is optional: a client whose ``complete`` takes ``tools`` (and
    ``tool_choice``) can be sent the catalog as functions and answer with
    :attr:`LLMResponse.tool_calls`; one that does not take them is always spoken to in
    JSON actions. A client may also declare, with a boolean ``tool_calling`` attribute,
    whether its model handles native tool calls well; ``tool_mode="auto"`` follows it.
    """

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str | LLMResponse:
        """Send chat ``messages`` and return the reply.

        Args:
            messages: OpenAI-style chat messages (``{"role": ..., "content": ...}``; in
                native mode also assistant messages with ``tool_calls`` and ``tool``
                messages with ``tool_call_id``).
            response_format: ``{"type": "json_schema", "json_schema": {"name", "schema",
                "strict"}}``, ``{"type": "json_object"}`` or ``None``. Clients that cannot
                enforce a format may send a weaker one or none.
            stream: stream the reply, passing deltas to ``on_stream_chunk``.
            on_stream_chunk: called as ``(text, done)``; see :data:`StreamCallback`.

        Clients with native tool calling also take ``tools`` (OpenAI-style function
        definitions, or ``None``) and ``tool_choice`` keyword arguments.

        Returns:
            The reply text, or an :class:`LLMResponse` with usage, cost and tool calls.

        Raises:
            LLMError: the call failed (see :mod:`penguiflow.planner.errors`).
        """
        ...


def as_response(reply: str | LLMResponse | tuple[str, float]) -> LLMResponse:
    """Return ``reply`` as an :class:`LLMResponse` (plain text gets zero usage).

    A ``(text, cost_usd)`` pair, the shape older clients return, becomes a response
    with that cost.

    Raises:
        TypeError: ``reply`` is not a ``str``, an ``LLMResponse`` or a ``(str, number)`` pair.
    """
    if isinstance(reply, LLMResponse):
        return reply
    if isinstance(reply, str):
        return LLMResponse(reply)
    if (
        isinstance(reply, tuple)
        and len(reply) == 2
        and isinstance(reply[0], str)
        and isinstance(reply[1], int | float)
        and not isinstance(reply[1], bool)
    ):
        return LLMResponse(reply[0], cost_usd=float(reply[1]))
    raise TypeError(
        f"an LLM client must return str, LLMResponse or a (text, cost_usd) pair, got "
        f"{type(reply).__name__}; fix the client's complete() method"
    )


_OPTIONAL_KEYWORDS = ("response_format", "stream", "on_stream_chunk", "tools", "tool_choice")


def complete_keywords(client: Any) -> frozenset[str] | None:
    """The optional keywords ``client.complete`` takes (``None``: all of them).

    Clients written for the minimal protocol, ``complete(*, messages,
    response_format=None)``, are never sent the streaming or tool keywords.
    """
    try:
        parameters = inspect.signature(client.complete).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    taken = frozenset(name for name in _OPTIONAL_KEYWORDS if name in parameters)
    return None if len(taken) == len(_OPTIONAL_KEYWORDS) else taken


def fit_request(request: dict[str, Any], keywords: frozenset[str] | None) -> dict[str, Any]:
    """Drop from ``request`` the optional keywords a client does not take (see above)."""
    if keywords is None:
        return request
    return {
        name: value
        for name, value in request.items()
        if name == "messages" or name in keywords or name not in _OPTIONAL_KEYWORDS
    }


def accepts_tools(client: Any) -> bool:
    """Whether ``client.complete`` takes the ``tools`` and ``tool_choice`` keywords."""
    try:
        parameters = inspect.signature(client.complete).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return "tools" in parameters and "tool_choice" in parameters


def declares_tool_calling(client: Any) -> bool:
    """Whether ``client`` says its model handles native tool calls (``tool_calling``)."""
    return accepts_tools(client) and getattr(client, "tool_calling", False) is True


def tool_name(tool: Mapping[str, Any]) -> str:
    """The name of an OpenAI-style tool definition."""
    function = tool.get("function")
    if isinstance(function, Mapping):
        return str(function.get("name", ""))
    return str(tool.get("name", ""))


async def deliver_chunk(callback: StreamCallback | None, text: str, done: bool) -> None:
    """Call a sync or async stream callback with ``(text, done)``; no-op for ``None``."""
    if callback is None:
        return
    result = callback(text, done)
    if inspect.isawaitable(result):
        await result


def split_for_stream(text: str, parts: int = 3) -> list[str]:
    """Cut ``text`` into at most ``parts`` non-empty pieces, in order.

    Offline clients use this to imitate a streamed reply.
    """
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def message_text(message: Mapping[str, Any]) -> str:
    """Return the text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "".join(texts)
    return ""
