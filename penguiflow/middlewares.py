"""Event observers for flows: the ``Middleware`` shape and ``log_flow_events``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from ._typing import Middleware
from .events import FlowEvent

__all__ = ["FlowEvent", "LatencyCallback", "Middleware", "log_flow_events"]

LatencyCallback: TypeAlias = Callable[[str, float, FlowEvent], None]
"""``callback(event_type, latency_ms, event)``: called for each event with a latency."""

_ERROR_EVENTS = frozenset({"node_error", "node_timeout", "node_failed"})
_WARNING_EVENTS = frozenset({"node_retry", "deadline_skip", "budget_exceeded"})
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def _record_extra(event: FlowEvent) -> dict[str, Any]:
    """The event's payload as log record attributes.

    A key a ``LogRecord`` already has (``name``, ``msg``...) would make ``logging``
    raise, so it gets an ``event_`` prefix.
    """
    return {
        (f"event_{key}" if key in _RECORD_ATTRS else key): value
        for key, value in event.to_payload().items()
    }


def log_flow_events(
    logger: logging.Logger | str | None = None,
    *,
    start_level: int = logging.INFO,
    success_level: int = logging.INFO,
    error_level: int = logging.ERROR,
    latency_callback: LatencyCallback | None = None,
) -> Middleware:
    """Return a middleware that logs every ``FlowEvent``.

    Each record's message is the event type, and the event's fields are attributes of
    the record (``record.node_name``, ``record.trace_id``, ``record.latency_ms``...,
    see ``FlowEvent.to_payload``), so formatters and log shippers see them as extras.

    Args:
        logger: a logger or logger name (default ``penguiflow.events``).
        start_level: level of ``node_start`` records.
        success_level: level of ``node_success`` and trace events.
        error_level: level of ``node_error``, ``node_timeout`` and ``node_failed``
            (retries, deadline skips and spent budgets are warnings).
        latency_callback: called with ``(event_type, latency_ms, event)`` when an event
            carries a latency (for histograms); if it raises, the error is logged and
            the flow carries on.
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
            log.log(level, kind, extra=_record_extra(event))
        if latency_callback is not None and event.latency_ms is not None:
            try:
                latency_callback(kind, event.latency_ms, event)
            except Exception:
                log.exception(
                    "latency_callback failed on %s",
                    kind,
                    extra={
                        "node_name": event.node_name,
                        "node_id": event.node_id,
                        "trace_id": event.trace_id,
                    },
                )

    return middleware
