"""The lifecycle states of a flow."""

from __future__ import annotations

import enum

__all__ = ["FlowState"]


class FlowState(enum.Enum):
    """Lifecycle of a flow: a flow runs once."""

    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
