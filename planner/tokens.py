"""The planner's token accountant: one counter for everything sent to the LLM.

Counting itself lives in :mod:`penguiflow.memory.tokens` (tiktoken with the model's
encoding, ``o200k_base`` then ``cl100k_base`` for unknown models, a deterministic
estimate when no encoding can be loaded); the planner and memory share the same
:class:`TokenCounter` objects (:func:`get_token_counter`), so the memory block, the
system prompt with the tool schemas, the query with its context and the trajectory are
all counted the same way.

:class:`TokenAccountant` decides how many tokens one request may carry: the smaller of
``token_budget`` and the model's context window minus the tokens reserved for the reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..memory.tokens import (
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    TokenCounter,
    estimate_tokens,
    get_token_counter,
)

__all__ = [
    "DEFAULT_RESERVED_OUTPUT_TOKENS",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "RequestLimit",
    "TokenAccountant",
    "TokenCounter",
    "check_window",
    "estimate_tokens",
    "get_token_counter",
]

DEFAULT_RESERVED_OUTPUT_TOKENS = 4096
"""Tokens kept free for the reply when neither the planner nor the client says how many
(never more than a quarter of the window)."""


@dataclass(frozen=True, slots=True)
class RequestLimit:
    """How many tokens one request may carry, and why.

    Attributes:
        tokens: the most tokens a request may hold (messages and ``response_format``);
            ``None`` when nothing limits it.
        budget: the limit that binds: ``"token_budget"`` or ``"context_window"``.
        context_window: the model's input window, when known.
        reserved_output_tokens: tokens kept free for the reply inside the window.
    """

    tokens: int | None
    budget: str
    context_window: int | None
    reserved_output_tokens: int

    def describe(self) -> str:
        """Return the limit as text for errors, e.g. ``context_window=8192 - 2048``."""
        if self.budget == "context_window" and self.context_window is not None:
            return (
                f"context_window={self.context_window} minus reserved_output_tokens="
                f"{self.reserved_output_tokens} ({self.tokens} tokens)"
            )
        return f"token_budget={self.tokens}"


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def check_window(context_window: Any, reserved_output_tokens: Any) -> None:
    """Check ``ReactPlanner``'s ``context_window`` and ``reserved_output_tokens``.

    Raises:
        ConfigError: a value is not an int in range, or the reserve fills the window.
    """
    if context_window is not None and _positive_int(context_window) is None:
        raise ConfigError(
            f"ReactPlanner(context_window=...) must be an int > 0 or None, got {context_window!r}"
        )
    if reserved_output_tokens is not None and (
        isinstance(reserved_output_tokens, bool)
        or not isinstance(reserved_output_tokens, int)
        or reserved_output_tokens < 0
    ):
        raise ConfigError(
            "ReactPlanner(reserved_output_tokens=...) must be an int >= 0 or None, "
            f"got {reserved_output_tokens!r}"
        )
    if (
        context_window is not None
        and reserved_output_tokens is not None
        and reserved_output_tokens >= context_window
    ):
        raise ConfigError(
            f"ReactPlanner(reserved_output_tokens={reserved_output_tokens}) must be smaller "
            f"than context_window={context_window}; leave room for the prompt"
        )


class TokenAccountant:
    """Counts every request of a planner and knows the most a request may carry.

    Each ``response_format`` (or the native ``tools``) is counted once per mode; the
    transcript counts the rest, the system prompt once per planner (see
    :class:`~penguiflow.planner._context.Transcript`).

    Args:
        model: the planner's model name (picks the encoding).
        client: the LLM client; its ``context_window`` and ``max_output_tokens``
            attributes are used when present (``LiteLLMClient`` has both).
        token_budget: the planner's ``token_budget``.
        context_window: the model's input window; ``None`` asks the client.
        reserved_output_tokens: tokens kept free for the reply; ``None`` uses the
            client's ``max_output_tokens``, else :data:`DEFAULT_RESERVED_OUTPUT_TOKENS`,
            at most a quarter of the window.
    """

    def __init__(
        self,
        *,
        model: str | None,
        client: Any,
        token_budget: int | None,
        context_window: int | None,
        reserved_output_tokens: int | None,
    ) -> None:
        self.counter: TokenCounter = get_token_counter(model)
        self._client = client
        self._token_budget = token_budget
        self._window = context_window
        self._reserved = reserved_output_tokens
        self._limit: RequestLimit | None = None
        self._formats: dict[str, int] = {}

    def _resolve(self) -> RequestLimit:
        window = self._window
        if window is None:
            window = _positive_int(getattr(self._client, "context_window", None))
        reserved = self._reserved
        if reserved is None:
            reserved = _positive_int(getattr(self._client, "max_output_tokens", None))
            if reserved is None:
                reserved = DEFAULT_RESERVED_OUTPUT_TOKENS
            if window is not None:
                reserved = min(reserved, window // 4)
        window_limit = None if window is None else max(1, window - reserved)
        budget = self._token_budget
        if window_limit is not None and (budget is None or window_limit < budget):
            return RequestLimit(window_limit, "context_window", window, reserved)
        return RequestLimit(budget, "token_budget", window, reserved)

    @property
    def limit(self) -> RequestLimit:
        """The request limit (resolved once, on first use)."""
        if self._limit is None:
            self._limit = self._resolve()
        return self._limit

    @property
    def request_counter(self) -> TokenCounter | None:
        """The counter for requests, or ``None`` when no limit applies.

        Without a limit nothing reads the count, and tiktoken costs more than the rest
        of a step; providers report their own usage anyway.
        """
        return self.counter if self.limit.tokens is not None else None

    async def prepare(self) -> None:
        """Resolve the limit, and load the encoding if a limit applies, off the event loop.

        Asking a ``LiteLLMClient`` for its window imports litellm, which takes seconds;
        an encoding takes tens of megabytes, so it is loaded only when requests are
        counted (memory loads it for its own budget).
        """
        if self._limit is None:
            self._limit = await asyncio.to_thread(self._resolve)
        if self._limit.tokens is not None:
            await self.counter.warm()

    def format_tokens(self, mode: str, sent: Any) -> int:
        """Tokens of what ``mode`` sends besides the messages, counted once per mode.

        Args:
            mode: the request mode.
            sent: its ``response_format``, or the native ``tools`` (``None``: nothing).
        """
        cost = self._formats.get(mode)
        if cost is None:
            cost = self.counter.count_json(sent) if sent else 0
            self._formats[mode] = cost
        return cost

    def memory_room(self, fixed_tokens: int) -> int | None:
        """The most tokens the memory message may take in a request.

        Half of what the limit leaves after the fixed part of every request (system
        prompt, query with context, ``response_format`` and reply priming), so the
        trajectory always keeps the other half.

        Args:
            fixed_tokens: tokens of the system prompt, query and ``response_format``.

        Returns:
            The room, or ``None`` when requests are not limited.
        """
        limit = self.limit.tokens
        if limit is None:
            return None
        return max(0, (limit - REPLY_PRIMING - fixed_tokens) // 2)
