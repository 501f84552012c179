"""The records a ``StateStore`` keeps: ``StoredEvent`` and ``RemoteBinding``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RemoteBinding", "StoredEvent"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A flow event as persisted by a :class:`~penguiflow.state.StateStore`.

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
