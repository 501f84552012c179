"""The runs an agent HTTP app is serving: status, result, and the events to stream.

Each run (or resume) started through the app is a :class:`RunHandle` owned by a
:class:`RunRegistry`, under its tenant: two tenants may use the same run id. Planner
events are routed to the handle by the planner run's tenant and id, so a run of one
tenant never receives another tenant's events, whatever ids they choose. Server-Sent
Event readers wait on the handle for new events. Finished handles are kept for ``ttl_s``
seconds (at most ``max_runs`` handles), so results can be fetched later.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_core import to_jsonable_python

from ..planner.events import PlannerEvent

__all__ = ["RunHandle", "RunRegistry", "RunStatus", "follow_events", "jsonable", "sse_stream"]

RunStatus = Literal["running", "finished", "paused", "failed", "cancelled"]
RunKind = Literal["run", "resume"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (pydantic models dumped, unknown objects as ``repr``)."""
    return to_jsonable_python(value, fallback=repr)


@dataclass(slots=True, eq=False)
class RunHandle:
    """One run served by the app."""

    run_id: str
    tenant: str
    kind: RunKind
    planner_run_id: str
    max_events: int = 10_000
    status: RunStatus = "running"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    events: deque[tuple[int, str, dict[str, Any]]] = field(default_factory=deque)
    next_seq: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done(self) -> bool:
        """Whether the run ended (finished, paused, failed or cancelled)."""
        return self.status != "running"

    def _notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def add_event(self, kind: str, data: dict[str, Any]) -> None:
        """Record one event (the oldest are dropped past ``max_events``)."""
        self.events.append((self.next_seq, kind, data))
        self.next_seq += 1
        while len(self.events) > self.max_events:
            self.events.popleft()
        self._notify()

    def finish(
        self,
        status: RunStatus,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of the run (only the first call counts)."""
        if self.done:
            return
        self.status, self.result, self.error = status, result, error
        self.finished_at = time.time()
        self._notify()

    def record(self) -> dict[str, Any]:
        """The run as the app returns it."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "planner_run_id": self.planner_run_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }

    def events_after(self, seq: int) -> list[tuple[int, str, dict[str, Any]]]:
        """Events with a sequence number above ``seq``."""
        return [item for item in self.events if item[0] > seq]


class RunRegistry:
    """The app's runs by tenant and id, with bounded retention.

    Args:
        max_runs: most runs kept; the oldest finished ones go first.
        ttl_s: how long a finished run stays readable.
        max_events: events kept per run.
    """

    def __init__(self, *, max_runs: int, ttl_s: float, max_events: int) -> None:
        self._runs: OrderedDict[tuple[str, str], RunHandle] = OrderedDict()
        self._by_planner_run: dict[tuple[str, str], RunHandle] = {}
        self._max_runs = max_runs
        self._ttl_s = ttl_s
        self._max_events = max_events

    def in_use(self, run_id: str, tenant: str) -> bool:
        """Whether ``tenant`` has a run ``run_id`` here, or a planner run of that id working."""
        key = (tenant, run_id)
        live = self._by_planner_run.get(key)
        return key in self._runs or (live is not None and not live.done)

    def new(self, run_id: str, tenant: str, kind: RunKind, planner_run_id: str) -> RunHandle:
        """Create and register a handle.

        The handle receives the events of the tenant's planner run ``planner_run_id``,
        unless another handle of that run is still working (a second resume of a pause
        that is being resumed fails without running anything).
        """
        self._evict()
        handle = RunHandle(run_id, tenant, kind, planner_run_id, max_events=self._max_events)
        self._runs[(tenant, run_id)] = handle
        route = (tenant, planner_run_id)
        current = self._by_planner_run.get(route)
        if current is None or current.done:
            self._by_planner_run[route] = handle
        return handle

    def get(self, run_id: str, tenant: str) -> RunHandle | None:
        """The run ``run_id`` of ``tenant``; another tenant's runs are never found."""
        return self._runs.get((tenant, run_id))

    async def on_event(self, event: PlannerEvent) -> None:
        """The planner's ``event_callback``: route the event to its run's handle."""
        handle = self._by_planner_run.get((event.tenant_id, event.run_id))
        if handle is not None and not handle.done:
            handle.add_event(event.event_type, jsonable(event.to_dict()))

    def _evict(self) -> None:
        now = time.time()
        for key, handle in list(self._runs.items()):
            expired = handle.done and (
                len(self._runs) >= self._max_runs
                or (handle.finished_at is not None and now - handle.finished_at > self._ttl_s)
            )
            if expired:
                self._drop(key, handle)

    def _drop(self, key: tuple[str, str], handle: RunHandle) -> None:
        del self._runs[key]
        route = (handle.tenant, handle.planner_run_id)
        if self._by_planner_run.get(route) is handle:
            del self._by_planner_run[route]

    async def aclose(self) -> None:
        """Cancel every running run and wait for them to end."""
        tasks = [h.task for h in self._runs.values() if h.task is not None and not h.task.done()]
        for task in tasks:
            task.cancel("the agent app is shutting down")
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _sse(seq: int | None, kind: str, data: Any) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    body = json.dumps(data, separators=(",", ":"))
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()


async def follow_events(
    handle: RunHandle, *, after: int, keepalive_s: float
) -> AsyncIterator[tuple[int, str, dict[str, Any]] | None]:
    """A run's events after ``after``, live, until the run ended and all were given.

    Yields ``(seq, kind, data)`` for each event, and ``None`` when ``keepalive_s``
    passed without one (so a stream can keep an idle connection open).
    """
    seq = after
    while True:
        changed = handle.changed
        fresh = handle.events_after(seq)
        for item in fresh:
            seq = item[0]
            yield item
        if handle.done and not handle.events_after(seq):
            return
        if fresh:
            continue
        try:
            async with asyncio.timeout(keepalive_s):
                await changed.wait()
        except TimeoutError:
            yield None


async def sse_stream(handle: RunHandle, *, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
    """Server-Sent Events of a run: events after ``after``, live, then an ``end`` event.

    Each event has ``id`` (its sequence number: reconnect with ``after=<id>``), ``event``
    (the planner event type) and ``data`` (the event as JSON). The last event is
    ``event: end`` with the run's record. Comments (``: keepalive``) keep idle
    connections open.
    """
    async for item in follow_events(handle, after=after, keepalive_s=keepalive_s):
        if item is None:
            yield b": keepalive\n\n"
        else:
            yield _sse(*item)
    yield _sse(None, "end", handle.record())
