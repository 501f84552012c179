"""``StateStore``: where a flow persists its events and remote bindings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .models import RemoteBinding, StoredEvent

__all__ = ["StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """Where a flow persists its events (and remote bindings) for audit and recovery.

    ``save_event`` may be called twice with the same event (a retried write): storing
    it once is the store's job.
    """

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one event."""
        ...

    async def load_history(self, trace_id: str) -> Sequence[StoredEvent]:
        """Return the events of ``trace_id`` in the order they happened."""
        ...

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Persist a link between a trace and a remote task."""
        ...
