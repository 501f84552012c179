"""Event observers for flows: the ``Middleware`` shape and ``log_flow_events``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._typing import Middleware
from .events import FlowEvent

__all__ = ["Middleware", "log_flow_events"]

_ERROR_EVENTS = frozenset({"node_error", "node_timeout", "node_failed"})
_WARNING_EVENTS = frozenset({"node_retry", "deadline_skip", "budget_exceeded"})


def log_flow_events(
    logger: logging.Logger | str | None = None,
    *,
    start_level: int = logging.DEBUG,
    success_level: int = logging.INFO,
    error_level: int = logging.ERROR,
    latency_callback: Callable[[str, float, FlowEvent], None] | None = None,
) -> Middleware:
    """Return a middleware that logs every ``FlowEvent`` with its fields as ``extra``.

    Args:
        logger: a logger or logger name (default ``penguiflow.events``).
        start_level: level of ``node_start`` records.
        success_level: level of ``node_success`` and trace events.
        error_level: level of ``node_error``, ``node_timeout`` and ``node_failed``.
        latency_callback: called with ``(event_type, latency_ms, event)`` when an event
            carries a latency; its failures are logged, never raised.
    """
    log = (
        logger
        if isinstance(logger, logging.Logger)
        else logging.getLogger(logger or "penguiflow.events")
    )

    async def middleware(event: FlowEvent) -> None:
        kind = event.event_type
        if kind == "node_start":
            level = start_level
        elif kind in _ERROR_EVENTS:
            level = error_level
        elif kind in _WARNING_EVENTS:
            level = logging.WARNING
        else:
            level = success_level
        if log.isEnabledFor(level):
            log.log(level, kind, extra={"flow_event": event.to_payload()})
        if latency_callback is not None and event.latency_ms is not None:
            try:
                latency_callback(kind, event.latency_ms, event)
            except Exception:
                log.exception("latency_callback failed")

    return middleware
