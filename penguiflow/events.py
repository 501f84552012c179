"""``FlowEvent``: what the runtime reports about every node execution and control action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .state.models import StoredEvent

__all__ = ["FlowEvent", "FlowEventType", "format_flow_event"]

FlowEventType = str
"""One of: node_start, node_success, node_error, node_timeout, node_retry, node_failed,
node_trace_cancelled, trace_cancel_start, trace_cancel_finish, deadline_skip,
budget_exceeded."""


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """One thing that happened in a running flow.

    Attributes:
        event_type: ``node_start``, ``node_success``, ``node_error``, ``node_timeout``,
            ``node_retry``, ``node_failed``, ``node_trace_cancelled`` (a running attempt
            was stopped by its trace's cancel), ``trace_cancel_start``,
            ``trace_cancel_finish``, ``deadline_skip`` or ``budget_exceeded``.
        ts: wall-clock time.
        node_name: the node involved, if any.
        node_id: the node's unique id, if any.
        trace_id: the trace involved (``None`` for payload-only messages).
        attempt: the attempt number (0 for the first attempt).
        latency_ms: how long the attempt took, on success, error and timeout.
        queue_depth_in: messages waiting in the node's queue.
        queue_depth_out: messages waiting in the queues of the node's successors.
        outgoing_edges: the node's outgoing edges (Rookery counts as one for an egress
            node).
        queue_maxsize: the flow's ``queue_maxsize``.
        trace_pending: messages of the trace queued or running anywhere in the flow
            (``None`` for payload-only messages).
        trace_inflight: attempts of the trace running right now.
        trace_cancelled: the trace was cancelled (``flow.cancel``).
        extra: other details (backoff, error code, the ``flow_error`` of a failure...).
        error: a short description of the failure, if any.
    """

    event_type: FlowEventType
    ts: float
    node_name: str | None = None
    node_id: str | None = None
    trace_id: str | None = None
    attempt: int = 0
    latency_ms: float | None = None
    queue_depth_in: int = 0
    queue_depth_out: int = 0
    outgoing_edges: int = 0
    queue_maxsize: int = 0
    trace_pending: int | None = None
    trace_inflight: int = 0
    trace_cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def queue_depth(self) -> int:
        """Messages waiting in the node's queue and its successors' queues."""
        return self.queue_depth_in + self.queue_depth_out

    @property
    def q_depth_in(self) -> int:
        """The same as ``queue_depth_in`` (its name in ``to_payload()``)."""
        return self.queue_depth_in

    @property
    def q_depth_out(self) -> int:
        """The same as ``queue_depth_out`` (its name in ``to_payload()``)."""
        return self.queue_depth_out

    @property
    def q_depth_total(self) -> int:
        """The same as ``queue_depth`` (its name in ``to_payload()``)."""
        return self.queue_depth_in + self.queue_depth_out

    @property
    def error_payload(self) -> Mapping[str, Any] | None:
        """The ``FlowError.to_payload()`` of a ``node_failed`` event, else ``None``."""
        raw = self.extra.get("flow_error")
        return MappingProxyType(dict(raw)) if isinstance(raw, Mapping) else None

    def to_payload(self) -> dict[str, Any]:
        """Return a JSON-friendly dict of the event (for logs and stores).

        Keys: ``ts``, ``event``, ``node_name``, ``node_id``, ``trace_id``,
        ``latency_ms``, ``q_depth_in``, ``q_depth_out``, ``q_depth_total``,
        ``outgoing``, ``queue_maxsize``, ``attempt``, ``trace_inflight``,
        ``trace_cancelled``; ``trace_pending`` and ``error`` when set; then ``extra``.
        """
        payload: dict[str, Any] = {
            "ts": self.ts,
            "event": self.event_type,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "trace_id": self.trace_id,
            "latency_ms": self.latency_ms,
            "q_depth_in": self.queue_depth_in,
            "q_depth_out": self.queue_depth_out,
            "q_depth_total": self.queue_depth_in + self.queue_depth_out,
            "outgoing": self.outgoing_edges,
            "queue_maxsize": self.queue_maxsize,
            "attempt": self.attempt,
            "trace_inflight": self.trace_inflight,
            "trace_cancelled": self.trace_cancelled,
        }
        if self.trace_pending is not None:
            payload["trace_pending"] = self.trace_pending
        if self.error is not None:
            payload["error"] = self.error
        if self.extra:
            payload.update(self.extra)
        return payload

    def metric_samples(self) -> dict[str, float]:
        """Return the event's numbers, for metrics backends (gauges and histograms)."""
        samples = {
            "queue_depth_in": float(self.queue_depth_in),
            "queue_depth_out": float(self.queue_depth_out),
            "queue_depth_total": float(self.queue_depth),
            "attempt": float(self.attempt),
            "trace_inflight": float(self.trace_inflight),
            "trace_cancelled": 1.0 if self.trace_cancelled else 0.0,
        }
        if self.trace_pending is not None:
            samples["trace_pending"] = float(self.trace_pending)
        if self.latency_ms is not None:
            samples["latency_ms"] = self.latency_ms
        return samples

    def tag_values(self) -> dict[str, str]:
        """Return the event's labels as strings: its type, node, trace and scalar extras."""
        tags = {"event_type": self.event_type}
        for key in ("node_name", "node_id", "trace_id"):
            value = getattr(self, key)
            if value is not None:
                tags[key] = value
        for key, value in self.extra.items():
            if isinstance(value, str | int | float | bool):
                tags[key] = str(value)
        return tags

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


def format_flow_event(event: FlowEvent) -> dict[str, Any]:
    """Return ``event.to_payload()`` with a failure's fields flattened, ready to log.

    The ``FlowError`` payload of a ``node_failed`` event stays under ``flow_error`` and is
    also copied to ``flow_error_code``, ``flow_error_message``... so log indexers can
    search them.
    """
    payload = event.to_payload()
    error = event.error_payload
    if error is not None:
        payload["flow_error"] = dict(error)
        payload.update((f"flow_error_{key}", value) for key, value in error.items())
    return payload
