"""Helpers shared by the runtime tests."""

from typing import Any

from penguiflow import Headers, Message


def msg(payload: Any, trace_id: str | None = None, **kw: Any) -> Message:
    """A ``Message`` of tenant ``t`` around ``payload`` (a new trace id unless given)."""
    if trace_id is not None:
        kw["trace_id"] = trace_id
    return Message(payload=payload, headers=Headers(tenant="t"), **kw)
