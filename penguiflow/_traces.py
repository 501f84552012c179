"""Per-trace bookkeeping of a running flow: ``TraceState`` and ``TraceTable``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ._hooks import HOOKS

__all__ = ["TraceState", "TraceTable"]


@dataclass(slots=True, eq=False)
class TraceState:
    """What the flow tracks for one trace while it has work queued or running.

    Attributes:
        trace_id: the trace.
        pending: its messages queued on a node or being handled.
        delivered: results (or a failure) it handed to Rookery or to a ``flow.call``.
        running: how many of its messages are being handled now (the node runners
            know by which tasks).
        outcome: the error it ended with (failure, cancel); ``None`` while it runs.
        drained: set when ``running`` empties after the trace ended (for ``cancel``).
        stream_seq: the next chunk number of each of its streams.
        context: the trace context it entered the flow in (telemetry on), the parent of
            its node spans.
    """

    trace_id: str
    pending: int = 0
    delivered: int = 0
    running: int = 0
    outcome: BaseException | None = None
    drained: asyncio.Event | None = None
    stream_seq: dict[str, int] | None = None
    context: object = None


class TraceTable(dict[str, TraceState]):
    """The traces in flight by id, and who waits on them (for capacity, for their end)."""

    __slots__ = ("end_watchers", "room_waiters")

    def __init__(self) -> None:
        super().__init__()
        self.room_waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self.end_watchers: dict[str, list[asyncio.Future[BaseException]]] = {}

    def open(self, trace_id: str) -> TraceState:
        """The state of ``trace_id``, created when the trace is not in flight."""
        trace = self.get(trace_id)
        if trace is None:
            trace = self.new(trace_id)
        return trace

    def new(self, trace_id: str) -> TraceState:
        """Start tracking ``trace_id``, which is not in flight."""
        trace = self[trace_id] = TraceState(trace_id)
        hooks = HOOKS.runtime
        if hooks is not None:
            trace.context = hooks.capture()
        return trace

    def remove(self, trace: TraceState) -> None:
        """Forget ``trace`` (it has nothing queued or running)."""
        if self.get(trace.trace_id) is trace:
            del self[trace.trace_id]

    # -- waiting for a trace's capacity -------------------------------------------------

    async def wait_for_room(self, trace_id: str) -> None:
        """Wait until :meth:`wake` or :meth:`wake_all` is called for ``trace_id``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self.room_waiters.setdefault(trace_id, deque())
        waiters.append(fut)
        try:
            await fut
        finally:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters and self.room_waiters.get(trace_id) is waiters:
                del self.room_waiters[trace_id]

    def wake(self, trace_id: str | None) -> None:
        """Let the oldest producer waiting for ``trace_id``'s capacity check again."""
        for fut in self.room_waiters.get(trace_id, ()) if trace_id is not None else ():
            if not fut.done():
                fut.set_result(None)
                return

    def wake_all(self, trace_id: str) -> None:
        """Let every producer waiting for ``trace_id`` go on (the trace ended)."""
        for fut in self.room_waiters.pop(trace_id, ()):
            if not fut.done():
                fut.set_result(None)

    def fail_waiters(self, exc: BaseException) -> None:
        """Fail every producer waiting for capacity with ``exc`` (the flow stopped).

        Watchers of a trace's end are told ``exc`` too.
        """
        for waiters in self.room_waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
        self.room_waiters.clear()
        for trace_id in list(self.end_watchers):
            self.ended(trace_id, exc)

    # -- watching a trace end ------------------------------------------------------------

    @contextlib.contextmanager
    def watch(self, trace_id: str) -> Iterator[asyncio.Future[BaseException]]:
        """A future set to the error trace ``trace_id`` ends with, while in the block."""
        fut: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        watchers = self.end_watchers.setdefault(trace_id, [])
        watchers.append(fut)
        try:
            yield fut
        finally:
            if fut in watchers:
                watchers.remove(fut)
            if not watchers and self.end_watchers.get(trace_id) is watchers:
                del self.end_watchers[trace_id]

    def ended(self, trace_id: str, exc: BaseException) -> None:
        """Tell the watchers of ``trace_id`` that it ended with ``exc``."""
        for fut in self.end_watchers.pop(trace_id, ()):
            if not fut.done():
                fut.set_result(exc)
