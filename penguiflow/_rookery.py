"""Rookery: the egress of a flow, where results wait until someone fetches them.

Results are kept per trace, so fetching one trace never waits behind another trace's
unread results. A trace may hold at most ``trace_capacity`` unread results: the node
producing more waits (only that trace stalls). Payload-only results (lane ``None``) share
one bounded FIFO. Failures are stored as results that ``fetch`` raises.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from .errors import FlowStateError

__all__ = ["Raise", "Rookery"]

LaneKey = str | None


class Raise:
    """A stored failure: ``fetch`` raises ``exc`` instead of returning it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Rookery:
    """Per-trace result store with scoped and unscoped waiters."""

    def __init__(
        self,
        *,
        trace_capacity: int,
        untraced_capacity: int,
        max_markers: int,
        on_take: Callable[[LaneKey], None],
    ) -> None:
        self._on_take = on_take
        # Plain dicts and lists: insertion order is enough, and a deque per trace is ~10x
        # the memory of a short list.
        self._results: dict[LaneKey, list[Any]] = {}
        # Lists, not deques: one waiter per trace is the common case and a deque is ~10x larger.
        self._scoped: dict[LaneKey, list[asyncio.Future[Any]]] = {}
        self._unscoped: deque[asyncio.Future[Any]] = deque()
        self._room: dict[LaneKey, deque[asyncio.Future[None]]] = {}
        self._markers: OrderedDict[str, BaseException] = OrderedDict()
        self._trace_capacity = trace_capacity
        self._untraced_capacity = untraced_capacity
        self._max_markers = max_markers
        self._closed: BaseException | None = None

    def count(self, key: LaneKey) -> int:
        """Unread results of lane ``key``."""
        results = self._results.get(key)
        return len(results) if results else 0

    def _capacity(self, key: LaneKey) -> int:
        return self._untraced_capacity if key is None else self._trace_capacity

    def offer(self, key: LaneKey, item: Any) -> bool:
        """Deliver or store ``item`` if that needs no waiting; ``False`` if the lane is full."""
        if self._unscoped or (self._scoped and key in self._scoped):
            waiter = self._pop_waiter(key)
            if waiter is not None:
                waiter.set_result((key, item))
                return True
        results = self._results.get(key)
        if results is None:
            self._results[key] = [item]
            return True
        capacity = self._untraced_capacity if key is None else self._trace_capacity
        if 0 < capacity <= len(results):
            return False
        results.append(item)
        return True

    async def put(self, key: LaneKey, item: Any) -> None:
        """Deliver ``item`` to a waiting fetcher, or store it, waiting while the lane is full."""
        capacity = self._capacity(key)
        while capacity > 0 and self.count(key) >= capacity and not self._has_waiter(key):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._room.setdefault(key, deque()).append(fut)
            try:
                await fut
            finally:
                room = self._room.get(key)
                if room is not None:
                    try:
                        room.remove(fut)
                    except ValueError:
                        pass
                    if not room:
                        del self._room[key]
        self.put_nowait(key, item)

    def put_nowait(self, key: LaneKey, item: Any) -> None:
        """Deliver or store ``item`` without waiting (used for failures and markers)."""
        waiter = self._pop_waiter(key)
        if waiter is not None:
            waiter.set_result((key, item))
            return
        results = self._results.get(key)
        if results is None:
            self._results[key] = [item]
        else:
            results.append(item)

    def _has_waiter(self, key: LaneKey) -> bool:
        scoped = self._scoped.get(key)
        return bool(scoped and any(not f.done() for f in scoped)) or any(
            not f.done() for f in self._unscoped
        )

    def _pop_waiter(self, key: LaneKey) -> asyncio.Future[Any] | None:
        scoped = self._scoped.get(key)
        while scoped:
            fut = scoped.pop(0)
            if not fut.done():
                if not scoped:
                    del self._scoped[key]
                return fut
        if scoped is not None:
            del self._scoped[key]
        while self._unscoped:
            fut = self._unscoped.popleft()
            if not fut.done():
                return fut
        return None

    def mark(self, trace_id: str, exc: BaseException) -> None:
        """Record a terminal failure (cancel, no result) that a later scoped fetch raises."""
        waiter = self._pop_scoped_only(trace_id)
        if waiter is not None:
            waiter.set_result((trace_id, Raise(exc)))
            return
        self._markers[trace_id] = exc
        self._markers.move_to_end(trace_id)
        while len(self._markers) > self._max_markers:
            self._markers.popitem(last=False)

    def _pop_scoped_only(self, key: LaneKey) -> asyncio.Future[Any] | None:
        scoped = self._scoped.get(key)
        result: asyncio.Future[Any] | None = None
        while scoped:
            fut = scoped.pop(0)
            if not fut.done():
                result = fut
                break
        if scoped is not None and not scoped:
            del self._scoped[key]
        return result

    def wake_all_scoped(self, trace_id: str, exc: BaseException) -> None:
        """Make every scoped fetcher of ``trace_id`` raise ``exc`` and keep a marker."""
        scoped = self._scoped.pop(trace_id, None)
        for fut in scoped or ():
            if not fut.done():
                fut.set_result((trace_id, Raise(exc)))
        self.mark(trace_id, exc)

    def discard(self, key: LaneKey) -> None:
        """Drop the unread results of lane ``key`` and free producers waiting for room."""
        self._results.pop(key, None)
        for fut in self._room.pop(key, ()):
            if not fut.done():
                fut.set_result(None)

    def get_nowait(self, key: LaneKey, *, scoped: bool) -> tuple[bool, Any]:
        """Return ``(True, item)`` if a result is ready, else ``(False, None)``."""
        results_by_key = self._results
        if scoped:
            results = results_by_key.get(key)
            if results:
                return True, self._take(key, results)
            if key is not None and key in self._markers:
                return True, Raise(self._markers.pop(key))
            return False, None
        if not results_by_key:
            return False, None
        first = next(iter(results_by_key))
        results = results_by_key[first]
        item = self._take(first, results)
        if results:
            # Round-robin between traces: the trace just served goes to the back.
            del results_by_key[first]
            results_by_key[first] = results
        return True, item

    def _take(self, key: LaneKey, results: list[Any]) -> Any:
        item = results.pop(0)
        if not results:
            del self._results[key]
        if self._room:
            room = self._room.get(key)
            while room:
                fut = room.popleft()
                if not fut.done():
                    fut.set_result(None)
                    break
        self._on_take(key)
        return item

    def waiter(self, key: LaneKey, *, scoped: bool) -> asyncio.Future[Any]:
        """Register and return a future that receives ``(key, item)`` for the next result.

        The caller must check :meth:`get_nowait` first and, if it stops waiting, call
        :meth:`abandon`.
        """
        if self._closed is not None:
            raise self._closed
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if scoped:
            waiters = self._scoped.get(key)
            if waiters is None:
                self._scoped[key] = [fut]
            else:
                waiters.append(fut)
        else:
            self._unscoped.append(fut)
        return fut

    def abandon(self, fut: asyncio.Future[Any]) -> None:
        """Give up a waiter; a result already handed to it goes back to the front."""
        if fut.done() and not fut.cancelled():
            got_key, got = fut.result()
            results = self._results.get(got_key)
            if results is None:
                self._results[got_key] = [got]
            else:
                results.insert(0, got)
        fut.cancel()

    def close(self, reason: str) -> None:
        """Fail every waiting fetcher and every later fetch with ``FlowStateError``."""
        self._closed = FlowStateError(reason)
        waiters = [f for q in self._scoped.values() for f in q] + list(self._unscoped)
        self._scoped.clear()
        self._unscoped.clear()
        for fut in waiters:
            if not fut.done():
                fut.set_result((None, Raise(FlowStateError(reason))))
        for room in self._room.values():
            for fut in room:
                if not fut.done():
                    fut.cancel()
        self._room.clear()
