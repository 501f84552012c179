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
    "Usage",
    "as_response",
    "deliver_chunk",
    "message_text",
    "split_for_stream",
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


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A reply with its accounting; clients may also return a plain ``str``.

    Attributes:
        text: the reply text (for the planner, one JSON action).
        usage: token counts reported by the provider (zeros when unknown).
        cost_usd: the price of the call in US dollars, when the client knows it.
        model: the model that answered, as reported by the provider.
        raw: the provider's own response object, for debugging; not compared or shown.
    """

    text: str
    usage: Usage = Usage()
    cost_usd: float | None = None
    model: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One request as an offline client recorded it.

    Attributes:
        messages: shallow copies of the chat messages that were sent.
        response_format: the requested output format, if any.
        stream: whether streaming was requested.
    """

    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None = None
    stream: bool = False

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
            messages: OpenAI-style chat messages (``{"role": ..., "content": ...}``).
            response_format: ``{"type": "json_schema", "json_schema": {"name", "schema",
                "strict"}}``, ``{"type": "json_object"}`` or ``None``. Clients that cannot
                enforce a format may send a weaker one or none.
            stream: stream the reply, passing deltas to ``on_stream_chunk``.
            on_stream_chunk: called as ``(text, done)``; see :data:`StreamCallback`.

        Returns:
            The reply text, or an :class:`LLMResponse` with usage and cost.

        Raises:
            LLMError: the call failed (see :mod:`penguiflow.planner.errors`).
        """
        ...


def as_response(reply: str | LLMResponse) -> LLMResponse:
    """Return ``reply`` as an :class:`LLMResponse` (plain text gets zero usage).

    Raises:
        TypeError: ``reply`` is neither a ``str`` nor an ``LLMResponse``.
    """
    if isinstance(reply, LLMResponse):
        return reply
    if isinstance(reply, str):
        return LLMResponse(reply)
    raise TypeError(
        f"an LLM client must return str or LLMResponse, got {type(reply).__name__}; "
        "fix the client's complete() method"
    )


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
