"""``FlowEvent``: what the runtime reports about every node execution and control action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .state import StoredEvent

__all__ = ["FlowEvent", "FlowEventType"]

FlowEventType = str
"""One of: node_start, node_success, node_error, node_timeout, node_retry, node_failed,
trace_cancel_start, trace_cancel_finish, deadline_skip, budget_exceeded."""


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """One thing that happened in a running flow.

    Attributes:
        event_type: ``node_start``, ``node_success``, ``node_error``, ``node_timeout``,
            ``node_retry``, ``node_failed``, ``trace_cancel_start``,
            ``trace_cancel_finish``, ``deadline_skip`` or ``budget_exceeded``.
        ts: wall-clock time.
        node_name: the node involved, if any.
        node_id: the node's unique id, if any.
        trace_id: the trace involved (``None`` for payload-only messages).
        attempt: the attempt number (0 for the first attempt).
        latency_ms: how long the attempt took, on success, error and timeout.
        queue_depth: messages waiting in the node's queue (the same as ``q_depth_in``).
        trace_pending: messages of the trace queued or running anywhere in the flow.
        trace_inflight: attempts of the trace running right now.
        error: a short description of the failure, if any.
        extra: other details (backoff, error code, ...).
        q_depth_in: messages waiting in the node's queue.
        q_depth_out: messages waiting in the queues of the node's successors.
        q_depth_total: ``q_depth_in + q_depth_out``.
    """

    event_type: FlowEventType
    ts: float
    node_name: str | None = None
    node_id: str | None = None
    trace_id: str | None = None
    attempt: int = 0
    latency_ms: float | None = None
    queue_depth: int = 0
    trace_pending: int = 0
    trace_inflight: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    q_depth_in: int = 0
    q_depth_out: int = 0
    q_depth_total: int = 0

    def to_payload(self) -> dict[str, Any]:
        """Return a JSON-friendly dict of the event (for logs and stores)."""
        payload: dict[str, Any] = {
            "event": self.event_type,
            "ts": self.ts,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "trace_id": self.trace_id,
            "attempt": self.attempt,
            "queue_depth": self.queue_depth,
            "trace_pending": self.trace_pending,
            "trace_inflight": self.trace_inflight,
            "q_depth_in": self.q_depth_in,
            "q_depth_out": self.q_depth_out,
            "q_depth_total": self.q_depth_total,
        }
        if self.latency_ms is not None:
            payload["latency_ms"] = self.latency_ms
        if self.error is not None:
            payload["error"] = self.error
        if self.extra:
            payload.update(self.extra)
        return payload

    def to_stored(self) -> StoredEvent:
        """Return the event as a ``StoredEvent`` for a ``StateStore``."""
        return StoredEvent(
            trace_id=self.trace_id,
            ts=self.ts,
            kind=self.event_type,
            node_name=self.node_name,
            node_id=self.node_id,
            payload=self.to_payload(),
        )
