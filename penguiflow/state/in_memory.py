"""``InMemoryStateStore``: a ``StateStore`` kept in the process, for tests and notebooks.

Everything it holds is lost when the process exits. It is never used unless you pass it:
a flow without a ``state_store`` persists nothing.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence

from ..errors import ConfigError
from .models import RemoteBinding, StoredEvent

__all__ = ["InMemoryStateStore"]


def _identity(event: StoredEvent) -> str:
    """What makes two saved events the same event (a retried write)."""
    return json.dumps(
        [event.ts, event.kind, event.node_name, event.node_id, dict(event.payload)],
        sort_keys=True,
        default=str,
    )


class _TraceLog:
    """One trace's events in the order saved, with their identities for deduplication."""

    __slots__ = ("events", "seen")

    def __init__(self) -> None:
        self.events: deque[tuple[str, StoredEvent]] = deque()
        self.seen: set[str] = set()


class InMemoryStateStore:
    """A :class:`~penguiflow.state.StateStore` kept in process memory.

    Saving an event twice stores it once (the protocol allows retried writes); saving a
    binding for the same ``(trace_id, context_id, task_id)`` replaces the earlier one.

    Args:
        max_events_per_trace: the oldest events of a trace are dropped past this many
            (``0`` for no limit).

    Raises:
        ConfigError: ``max_events_per_trace`` is negative.
    """

    def __init__(self, *, max_events_per_trace: int = 10_000) -> None:
        if max_events_per_trace < 0:
            raise ConfigError(
                "InMemoryStateStore(max_events_per_trace=...) must be >= 0 (0: no limit), "
                f"got {max_events_per_trace}"
            )
        self._limit = max_events_per_trace
        self._traces: dict[str | None, _TraceLog] = {}
        self._bindings: dict[tuple[str, str | None, str], RemoteBinding] = {}

    async def save_event(self, event: StoredEvent) -> None:
        """Keep one event; an event already kept is not stored again."""
        log = self._traces.get(event.trace_id)
        if log is None:
            log = self._traces[event.trace_id] = _TraceLog()
        identity = _identity(event)
        if identity in log.seen:
            return
        log.seen.add(identity)
        log.events.append((identity, event))
        if self._limit and len(log.events) > self._limit:
            dropped, _ = log.events.popleft()
            log.seen.discard(dropped)

    async def load_history(self, trace_id: str) -> Sequence[StoredEvent]:
        """Return the events of ``trace_id`` ordered by time (saving order among equals)."""
        log = self._traces.get(trace_id)
        if log is None:
            return []
        return sorted((event for _, event in log.events), key=lambda event: event.ts)

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Keep a remote binding, replacing one with the same trace, context and task."""
        self._bindings[(binding.trace_id, binding.context_id, binding.task_id)] = binding

    @property
    def bindings(self) -> list[RemoteBinding]:
        """The remote bindings kept, in the order first saved."""
        return list(self._bindings.values())
