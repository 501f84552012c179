"""Per-trace bookkeeping of a running flow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["TraceState"]


@dataclass(slots=True, eq=False)
class TraceState:
    """What the flow tracks for one trace while it has work queued, running or unread."""

    trace_id: str
    pending: int = 0
    delivered: int = 0
    # Tasks running this trace (workers, or a ``flow.call`` caller): one task (the common
    # case) or a list of them.
    running: asyncio.Task[None] | list[asyncio.Task[None]] | None = None
    terminated: BaseException | None = None
    drained: asyncio.Future[None] | None = None
    stream_seq: dict[str, int] | None = None

    def tasks(self) -> list[asyncio.Task[None]]:
        """The tasks running this trace right now."""
        running = self.running
        if running is None:
            return []
        return list(running) if isinstance(running, list) else [running]

    def add_running(self, task: asyncio.Task[None]) -> None:
        """Record that ``task`` started running a message of this trace."""
        running = self.running
        if running is None:
            self.running = task
        elif isinstance(running, list):
            running.append(task)
        else:
            self.running = [running, task]
