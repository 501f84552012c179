"""Callable shapes used across the runtime, named once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .events import FlowEvent

NodeFunc: TypeAlias = Callable[[Any, Any], Awaitable[Any]]
"""``async def fn(message, ctx) -> Any``."""

Middleware: TypeAlias = Callable[["FlowEvent"], Awaitable[None]]
"""``async def middleware(event: FlowEvent) -> None``: observes every flow event."""
