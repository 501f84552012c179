"""Memory events (summaries, health changes) and their delivery to a callback."""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["MemoryEvent", "MemoryEventCallback", "MemoryEventType", "MemoryHealth", "emit_event"]

_log = logging.getLogger("penguiflow.memory")

MemoryEventType = Literal[
    "memory_summary_started",
    "memory_summary_finished",
    "memory_summary_failed",
    "memory_health_changed",
]
"""The kinds of memory event."""


class MemoryHealth(enum.StrEnum):
    """Whether the rolling summary works.

    ``healthy``: summaries are written. ``degraded``: the summariser kept failing, so
    memory behaves like ``truncation`` (old turns are dropped). ``recovering``: after a
    cool-down, the summariser is being tried again.
    """

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    RECOVERING = "recovering"


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """Something that happened in a memory; given to the ``event_callback``.

    Attributes:
        event_type: what happened.
        ts: wall-clock time.
        key: the memory key as ``tenant/user/session`` (``None`` for a memory without one).
        health: the health after the event.
        details: JSON-friendly details (turn counts, attempts, error type and message,
            previous health). Never conversation text.
    """

    event_type: MemoryEventType
    ts: float
    key: str | None
    health: MemoryHealth
    details: Mapping[str, Any] = field(default_factory=dict)


MemoryEventCallback: TypeAlias = Callable[[MemoryEvent], Awaitable[None] | None]
"""``def cb(event)`` or ``async def cb(event)``."""


async def emit_event(
    callback: MemoryEventCallback | None,
    event_type: MemoryEventType,
    *,
    key: str | None,
    health: MemoryHealth,
    **details: Any,
) -> None:
    """Deliver one event; a failing callback is logged and never raises here.

    Args:
        callback: the user's callback, or ``None``.
        event_type: the event kind.
        key: the memory key text.
        health: the current health.
        **details: event details.
    """
    event = MemoryEvent(event_type, time.time(), key, health, details)
    _log.debug("memory event %s key=%s %s", event_type, key, details)
    if callback is None:
        return
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        _log.exception("memory event callback failed on %s; memory goes on", event_type)
