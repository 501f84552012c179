"""The documented ``penguiflow.core`` path: the flow, its context and ``call_playbook``.

The same objects as the package root's (``from penguiflow import create``): this module
only re-exports them.
"""

from __future__ import annotations

from .context import Context
from .errors import CycleError, TraceCancelled
from .flow import DEFAULT_QUEUE_MAXSIZE, PenguiFlow, create
from .playbook import call_playbook

__all__ = [
    "DEFAULT_QUEUE_MAXSIZE",
    "Context",
    "CycleError",
    "PenguiFlow",
    "TraceCancelled",
    "call_playbook",
    "create",
]
