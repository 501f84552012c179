"""Memory settings: ``ShortTermMemoryConfig``, ``MemoryBudget`` and ``MemoryIsolation``."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from penguiflow._renames import renamed_fields

from .errors import MemoryConfigError

__all__ = [
    "MemoryBudget",
    "MemoryIsolation",
    "MemoryStrategy",
    "OverflowPolicy",
    "ShortTermMemoryConfig",
]

MemoryStrategy = Literal["none", "truncation", "rolling_summary"]
"""``none`` (memory off), ``truncation`` (keep the last turns) or ``rolling_summary``."""

OverflowPolicy = Literal["truncate_oldest", "truncate_summary", "error"]
"""What to do when the memory block is over ``total_max_tokens``."""


def _describe(error: ValidationError, model: str) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(arguments)"
        message = item["msg"].removeprefix("Value error, ")
        if "(got " not in message:  # a nested settings model already named the value
            message = f"{message} (got {item.get('input')!r})"
        parts.append(f"{model}.{where}: {message}")
    return "; ".join(parts)


class _Settings(BaseModel):
    """A frozen, keyword-only settings model that raises ``MemoryConfigError``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise MemoryConfigError(_describe(exc, type(self).__name__)) from None


class MemoryBudget(_Settings):
    """Token and turn limits of the memory block shown to the LLM.

    Attributes:
        full_zone_turns: how many of the latest turns are kept word for word. Older turns
            are dropped (``truncation``) or summarised (``rolling_summary``).
        summary_max_tokens: the most tokens the rolling summary may take (0 keeps no
            summary).
        total_max_tokens: the most tokens the whole memory block may take (summary,
            pending and recent turns, headers included).
        overflow_policy: when the block is over ``total_max_tokens``:
            ``truncate_oldest`` drops the oldest turns first, ``truncate_summary`` shortens
            the summary first and then drops turns, ``error`` raises ``MemoryBudgetError``.
    """

    full_zone_turns: int = 5
    summary_max_tokens: int = 1_000
    total_max_tokens: int = 10_000
    overflow_policy: OverflowPolicy = "truncate_oldest"

    @field_validator("full_zone_turns")
    @classmethod
    def _check_zone(cls, value: int) -> int:
        if value < 1 or value > 10_000:
            raise ValueError(
                "must be between 1 and 10000 turns; to keep no turns use "
                "ShortTermMemoryConfig(strategy='none')"
            )
        return value

    @field_validator("summary_max_tokens")
    @classmethod
    def _check_summary(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be >= 0 tokens (0 keeps no summary)")
        return value

    @field_validator("total_max_tokens")
    @classmethod
    def _check_total(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be >= 1 token; give the memory block a positive budget")
        return value


class MemoryIsolation(_Settings):
    """Where the memory key comes from in ``tool_context``, and whether it is required.

    Each ``*_key`` is a dotted path into the run's ``tool_context`` (``"auth.tenant"``
    reads ``tool_context["auth"]["tenant"]``).

    Attributes:
        tenant_key: path of the tenant id.
        user_key: path of the user id.
        session_key: path of the session id.
        require_explicit_key: when ``True`` (the default) memory is used only with a
            complete key (given as ``memory_key`` or found at all three paths); otherwise
            memory is off for that run. When ``False``, a missing tenant or user falls back
            to ``"default"``, but a session id is still required.
    """

    tenant_key: str = "tenant_id"
    user_key: str = "user_id"
    session_key: str = "session_id"
    require_explicit_key: bool = True

    @field_validator("tenant_key", "user_key", "session_key")
    @classmethod
    def _check_path(cls, value: str) -> str:
        parts = value.split(".")
        if not value or any(not part.strip() for part in parts):
            raise ValueError(
                "must be a dotted path of non-empty names into tool_context, "
                "e.g. 'tenant_id' or 'auth.tenant'"
            )
        return value


def _finite_non_negative(name: str, value: float) -> float:
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0")
    return value


class ShortTermMemoryConfig(_Settings):
    """How a planner remembers a conversation (all arguments keyword-only).

    Attributes:
        strategy: ``"none"`` (off, the default), ``"truncation"`` (keep the last
            ``full_zone_turns`` turns) or ``"rolling_summary"`` (older turns are folded
            into a summary by an LLM in the background).
        budget: token and turn limits.
        isolation: where the memory key comes from.
        summarizer_llm: the LLM client that writes summaries (an object with
            ``async complete(*, messages, response_format=None, stream=False,
            on_stream_chunk=None)``); ``None`` uses the planner's client.
        tokenizer_model: model name used to pick the tiktoken encoding; ``None`` uses the
            planner's model, or the default encoding.
        summary_retry_attempts: attempts per summarisation before memory degrades.
        summary_retry_backoff_base: seconds before the first retry; doubles per retry.
        summary_retry_max_backoff: the longest wait between attempts, in seconds.
        summary_timeout_s: per-attempt time limit of the summariser (``None``: no limit).
        recovery_cooldown_s: after degrading, how long to wait before trying the
            summariser again.
        max_pending_turns: the most turns kept waiting for a summary; older ones are
            dropped (as in truncation) if the summariser falls this far behind.
        max_conflict_retries: how many times a save is retried after version conflicts
            with other writers of the same session.
        summary_prompt: replaces the built-in instructions of the summariser.
    """

    strategy: MemoryStrategy = "none"
    budget: MemoryBudget = Field(default_factory=MemoryBudget)
    isolation: MemoryIsolation = Field(default_factory=MemoryIsolation)
    summarizer_llm: Any = Field(default=None, repr=False)
    tokenizer_model: str | None = None
    summary_retry_attempts: int = 3
    summary_retry_backoff_base: float = 0.5
    summary_retry_max_backoff: float = 8.0
    summary_timeout_s: float | None = 60.0
    recovery_cooldown_s: float = 30.0
    max_pending_turns: int = 32
    max_conflict_retries: int = 10
    summary_prompt: str | None = None

    @field_validator("summarizer_llm")
    @classmethod
    def _check_llm(cls, value: Any) -> Any:
        if value is not None and not callable(getattr(value, "complete", None)):
            raise ValueError(
                "must be None or an LLM client with an async complete(*, messages, ...) "
                f"method; {type(value).__name__} has none"
            )
        return value

    @field_validator("summary_retry_attempts", "max_conflict_retries")
    @classmethod
    def _check_attempts(cls, value: int) -> int:
        if value < 1 or value > 100:
            raise ValueError("must be between 1 and 100")
        return value

    @field_validator("max_pending_turns")
    @classmethod
    def _check_pending(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be >= 1 turn")
        return value

    @model_validator(mode="before")
    @classmethod
    def _renamed_fields(cls, data: Any) -> Any:
        return renamed_fields(
            data,
            "ShortTermMemoryConfig",
            {
                "summary_retry_backoff_s": "summary_retry_backoff_base",
                "summary_retry_max_backoff_s": "summary_retry_max_backoff",
                "retry_attempts": "summary_retry_attempts",
                "retry_backoff_base_s": "summary_retry_backoff_base",
                "degraded_retry_interval_s": "recovery_cooldown_s",
                "recovery_backlog_limit": "max_pending_turns",
            },
        )

    @field_validator("summary_retry_backoff_base", "summary_retry_max_backoff")
    @classmethod
    def _check_backoff(cls, value: float) -> float:
        return _finite_non_negative("the backoff", value)

    @field_validator("recovery_cooldown_s")
    @classmethod
    def _check_cooldown(cls, value: float) -> float:
        return _finite_non_negative("the cooldown", value)

    @field_validator("summary_timeout_s")
    @classmethod
    def _check_timeout(cls, value: float | None) -> float | None:
        if value is not None and (math.isnan(value) or math.isinf(value) or value <= 0):
            raise ValueError("must be > 0 seconds, or None for no limit")
        return value

    @property
    def enabled(self) -> bool:
        """``True`` unless ``strategy`` is ``"none"``."""
        return self.strategy != "none"
