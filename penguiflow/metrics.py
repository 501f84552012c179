"""The documented ``penguiflow.metrics`` path: ``FlowEvent`` (defined in ``penguiflow.events``)."""

from __future__ import annotations

from .events import FlowEvent

__all__ = ["FlowEvent"]
