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
from typing import Any, Final

from .errors import FlowStateError

__all__ = ["NOTHING", "Raise", "Rookery"]

LaneKey = str | None


class Raise:
    """A stored failure: ``fetch`` raises ``exc`` instead of returning it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Nothing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING: Final = _Nothing()
"""Returned by ``take``/``take_any`` when no result is ready."""

# A trace's scoped fetchers: one future (the common case) or a list of them, oldest first.
_Scoped = asyncio.Future[Any] | list[asyncio.Future[Any]]


class Rookery:
    """Per-trace result store with scoped and unscoped waiters.

    A scoped waiter (``fetch(trace_id=...)``) receives the item itself; an unscoped one
    receives ``(trace_id, item)``.
    """

    def __init__(
        self,
        *,
        trace_capacity: int,
        untraced_capacity: int,
        max_markers: int,
        on_take: Callable[[LaneKey], None],
        take_watchers: dict[str, Any],
    ) -> None:
        # ``on_take`` is called after a result is taken while ``take_watchers`` (the
        # flow's trace-capacity waiters) is not empty.
        self._on_take = on_take
        self._take_watchers = take_watchers
        # Plain dicts and lists: insertion order is enough, and a deque per trace is ~10x
        # the memory of a short list.
        self._results: dict[LaneKey, list[Any]] = {}
        self._scoped: dict[LaneKey, _Scoped] = {}
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

    def has(self, key: LaneKey) -> bool:
        """Whether lane ``key`` has unread results."""
        return key in self._results

    def _capacity(self, key: LaneKey) -> int:
        return self._untraced_capacity if key is None else self._trace_capacity

    def offer(self, key: LaneKey, item: Any) -> bool:
        """Deliver or store ``item`` if that needs no waiting; ``False`` if the lane is full."""
        if self._scoped and key in self._scoped:
            waiter = self._pop_scoped(key)
            if waiter is not None:
                waiter.set_result(item)
                return True
        if self._unscoped:
            waiter = self._pop_unscoped()
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
        """Deliver or store ``item`` without waiting (failures, markers, inline callers)."""
        waiter = self._pop_scoped(key)
        if waiter is not None:
            waiter.set_result(item)
            return
        waiter = self._pop_unscoped()
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
        if scoped is not None:
            if isinstance(scoped, list):
                if any(not f.done() for f in scoped):
                    return True
            elif not scoped.done():
                return True
        return any(not f.done() for f in self._unscoped)

    def _pop_scoped(self, key: LaneKey) -> asyncio.Future[Any] | None:
        scoped = self._scoped.get(key)
        if scoped is None:
            return None
        if not isinstance(scoped, list):
            del self._scoped[key]
            return None if scoped.done() else scoped
        while scoped:
            fut = scoped.pop(0)
            if not fut.done():
                if not scoped:
                    del self._scoped[key]
                return fut
        del self._scoped[key]
        return None

    def _pop_unscoped(self) -> asyncio.Future[Any] | None:
        while self._unscoped:
            fut = self._unscoped.popleft()
            if not fut.done():
                return fut
        return None

    def mark(self, trace_id: str, exc: BaseException) -> None:
        """Record a terminal failure (cancel, no result) that a later scoped fetch raises."""
        waiter = self._pop_scoped(trace_id)
        if waiter is not None:
            waiter.set_result(Raise(exc))
            return
        self._markers[trace_id] = exc
        self._markers.move_to_end(trace_id)
        while len(self._markers) > self._max_markers:
            self._markers.popitem(last=False)

    def wake_all_scoped(self, trace_id: str, exc: BaseException) -> None:
        """Make every scoped fetcher of ``trace_id`` raise ``exc`` and keep a marker."""
        scoped = self._scoped.pop(trace_id, None)
        for fut in scoped if isinstance(scoped, list) else (scoped,) if scoped else ():
            if not fut.done():
                fut.set_result(Raise(exc))
        self.mark(trace_id, exc)

    def discard(self, key: LaneKey) -> None:
        """Drop the unread results of lane ``key`` and free producers waiting for room."""
        self._results.pop(key, None)
        for fut in self._room.pop(key, ()):
            if not fut.done():
                fut.set_result(None)

    def take(self, key: LaneKey) -> Any:
        """Return the next result (or terminal marker) of lane ``key``, else ``NOTHING``."""
        results = self._results.get(key)
        if results:
            return self._take(key, results)
        if key is not None and self._markers and key in self._markers:
            return Raise(self._markers.pop(key))
        return NOTHING

    def take_any(self) -> Any:
        """Return the next result of any lane (round-robin between traces), else ``NOTHING``."""
        results_by_key = self._results
        if not results_by_key:
            return NOTHING
        first = next(iter(results_by_key))
        results = results_by_key[first]
        item = self._take(first, results)
        if results:
            # Round-robin between traces: the trace just served goes to the back.
            del results_by_key[first]
            results_by_key[first] = results
        return item

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
        if self._take_watchers:
            self._on_take(key)
        return item

    def waiter(self, key: LaneKey) -> asyncio.Future[Any]:
        """Register and return a future for the next result of ``key`` (``None``: any lane).

        The caller must check :meth:`take` first and, if it stops waiting, call
        :meth:`abandon`.
        """
        if self._closed is not None:
            raise self._closed
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key is None:
            self._unscoped.append(fut)
        else:
            scoped = self._scoped.get(key)
            if scoped is None:
                self._scoped[key] = fut
            elif isinstance(scoped, list):
                scoped.append(fut)
            else:
                self._scoped[key] = [scoped, fut]
        return fut

    def abandon(self, fut: asyncio.Future[Any], key: LaneKey) -> None:
        """Give up a waiter of ``key``; a result already handed to it goes back to the front."""
        if fut.done() and not fut.cancelled():
            # Handed a result (and so already removed from the waiters) but not taken.
            got = fut.result()
            if key is None:
                key, got = got
            results = self._results.get(key)
            if results is None:
                self._results[key] = [got]
            else:
                results.insert(0, got)
            return
        fut.cancel()
        if key is None:
            try:
                self._unscoped.remove(fut)
            except ValueError:
                pass
            return
        scoped = self._scoped.get(key)
        if scoped is fut:
            del self._scoped[key]
        elif isinstance(scoped, list):
            try:
                scoped.remove(fut)
            except ValueError:
                pass
            if not scoped:
                del self._scoped[key]

    def close(self, reason: str) -> None:
        """Fail every waiting fetcher and every later fetch with ``FlowStateError``."""
        self._closed = FlowStateError(reason)
        self._on_take = _ignore_take  # a bound method of the flow: keeps it in a cycle
        if not (self._scoped or self._unscoped or self._room):
            return  # no one waits
        scoped = list(self._scoped.values())
        unscoped = list(self._unscoped)
        self._scoped.clear()
        self._unscoped.clear()
        for entry in scoped:
            for fut in entry if isinstance(entry, list) else (entry,):
                if not fut.done():
                    fut.set_result(Raise(FlowStateError(reason)))
        for fut in unscoped:
            if not fut.done():
                fut.set_result((None, Raise(FlowStateError(reason))))
        for room in self._room.values():
            for fut in room:
                if not fut.done():
                    fut.cancel()
        self._room.clear()


def _ignore_take(key: LaneKey) -> None:
    return None
