"""Durability protocols: ``StateStore`` and ``StoredEvent``, plus an in-memory store."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["InMemoryStateStore", "RemoteBinding", "StateStore", "StoredEvent"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A flow event as persisted by a :class:`StateStore`.

    Attributes:
        trace_id: the trace the event belongs to (``None`` for payload-only messages).
        ts: wall-clock time of the event.
        kind: the event type (``node_start``, ``node_failed``, ...).
        node_name: the node involved, if any.
        node_id: the node's unique id, if any.
        payload: JSON-friendly details.
    """

    trace_id: str | None
    ts: float
    kind: str
    node_name: str | None
    node_id: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteBinding:
    """Links a local trace to a task running in a remote agent."""

    trace_id: str
    context_id: str | None
    task_id: str
    agent_url: str


@runtime_checkable
class StateStore(Protocol):
    """Where a flow persists its events (and remote bindings) for audit and recovery."""

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one event."""
        ...

    async def load_history(self, trace_id: str) -> Sequence[StoredEvent]:
        """Return the events of ``trace_id`` in the order they were saved."""
        ...

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Persist a link between a trace and a remote task."""
        ...


class InMemoryStateStore:
    """A ``StateStore`` kept in process memory; for tests and single-process use.

    Args:
        max_events_per_trace: the oldest events of a trace are dropped past this many.
    """

    def __init__(self, *, max_events_per_trace: int = 10_000) -> None:
        self._events: dict[str | None, deque[StoredEvent]] = defaultdict(
            lambda: deque(maxlen=max_events_per_trace)
        )
        self._bindings: list[RemoteBinding] = []
        self._lock = asyncio.Lock()

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one event in memory."""
        self._events[event.trace_id].append(event)

    async def load_history(self, trace_id: str) -> Sequence[StoredEvent]:
        """Return the events of ``trace_id`` in the order they were saved."""
        return list(self._events.get(trace_id, ()))

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Persist a remote binding in memory."""
        self._bindings.append(binding)

    @property
    def bindings(self) -> list[RemoteBinding]:
        """Remote bindings saved so far."""
        return list(self._bindings)
