"""Helpers shared by the runtime tests."""

from typing import Any

from penguiflow import Headers, Message, PenguiFlow


def msg(payload: Any, trace_id: str | None = None, **kw: Any) -> Message:
    """A ``Message`` of tenant ``t`` around ``payload`` (a new trace id unless given)."""
    if trace_id is not None:
        kw["trace_id"] = trace_id
    return Message(payload=payload, headers=Headers(tenant="t"), **kw)


async def echo_each(flow: PenguiFlow, count: int, *, timeout: float) -> None:
    """Emit ``count`` messages (payload = trace id), then fetch each and check it came back."""
    ids = [f"t{i}" for i in range(count)]
    for tid in ids:
        await flow.emit(msg(tid, trace_id=tid))
    for tid in ids:
        assert (await flow.fetch(trace_id=tid, timeout=timeout)).payload == tid
