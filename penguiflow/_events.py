"""``EventReporter``: builds each ``FlowEvent`` and hands it to whoever observes the flow."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ._typing import Middleware
from .errors import TraceCancelled
from .events import FlowEvent
from .state import StateStore

if TYPE_CHECKING:
    from ._runner import NodeRunner
    from ._traces import TraceState

__all__ = ["EventReporter"]

logger = logging.getLogger("penguiflow.flow")


class EventReporter:
    """Reports events to the middlewares, the state store and the ``penguiflow.flow`` log.

    Attributes:
        middlewares: ``async def mw(event)`` observers, in the order they were added.
    """

    def __init__(self, middlewares: list[Middleware], state_store: StateStore | None) -> None:
        self.middlewares = middlewares
        self._state_store = state_store

    def observed(self) -> bool:
        """Whether anything consumes events (else they are not even built)."""
        return (
            bool(self.middlewares)
            or self._state_store is not None
            or logger.isEnabledFor(logging.DEBUG)
        )

    async def report(
        self,
        event_type: str,
        runner: NodeRunner | None,
        key: str | None,
        trace: TraceState | None,
        *,
        attempt: int,
        latency_ms: float | None,
        error: str | None,
        extra: dict[str, Any] | None,
        cancelled: bool = False,
    ) -> None:
        """Build the event and hand it on; a failing observer is logged, never raised."""
        event = FlowEvent(
            event_type=event_type,
            ts=time.time(),
            trace_id=key,
            attempt=attempt,
            latency_ms=latency_ms,
            trace_pending=None if key is None else (trace.pending if trace is not None else 0),
            trace_inflight=trace.running if trace is not None else 0,
            trace_cancelled=cancelled
            or (trace is not None and isinstance(trace.outcome, TraceCancelled)),
            extra=extra or {},
            error=error,
            **_node_fields(runner),
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(event_type, extra={"flow_event": event.to_payload()})
        for middleware in self.middlewares:
            try:
                await middleware(event)
            except Exception:
                logger.exception("middleware failed on %s", event_type)
        if self._state_store is not None:
            try:
                await self._state_store.save_event(event.to_stored())
            except Exception:
                logger.exception("state store failed to save %s", event_type)


def _node_fields(runner: NodeRunner | None) -> dict[str, Any]:
    """The node and queue fields of an event about ``runner``'s node."""
    if runner is None:
        return {}
    return {
        "node_name": runner.name,
        "node_id": runner.node.node_id,
        "queue_depth_in": runner.floe.size,
        "queue_depth_out": sum(s.floe.size for s in runner.successors),
        "outgoing_edges": len(runner.successors) + (1 if runner.egress else 0),
        "queue_maxsize": max(runner.floe.maxsize, 0),
    }
