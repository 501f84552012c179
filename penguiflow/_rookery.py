"""Rookery: the egress of a flow, where results wait until someone fetches them.

Results are kept per trace, so fetching one trace never waits behind another trace's
unread results. A trace may hold at most ``trace_capacity`` unread results: the node
producing more waits (only that trace stalls). Payload-only results (lane ``None``) share
one FIFO bounded by ``untraced_capacity``. Failures are stored as :class:`Raise` results
that ``fetch`` raises. A trace that ended without a result to store (cancelled, or no
result at all) leaves a *marker*: the next ``fetch`` of that trace raises it.

All traces together hold at most ``capacity`` unread results. At the bound, ``emit``
waits (:meth:`Rookery.wait_for_room`) and so does a node producing a result, except
while a reader waits for a particular trace (a scoped ``fetch``, or a ``flow.call``
caller): that reader's result may be stuck behind the producers waiting, so they store
theirs beyond the bound. What goes beyond is bounded by the work already admitted.
Failures are never held back.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from typing import Any, Final

from ._floe import LaneKey
from .errors import FlowStateError

__all__ = ["NOTHING", "Raise", "Rookery"]


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


def _wake_one(waiters: deque[asyncio.Future[None]]) -> bool:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return True
    return False


def _wake_all(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)


class Rookery:
    """Per-trace result store with scoped and unscoped fetchers.

    A scoped fetcher (``fetch(trace_id=...)``) receives the item itself; an unscoped one
    receives ``(trace_id, item)``.

    Attributes:
        capacity: the most unread results of all traces together (``None``: no bound).
        depth: unread results now.
        peak: the largest ``depth`` seen.
        readers: ``flow.call`` callers waiting for their trace's result outside
            :meth:`waiter` (they let producers store beyond the bound).
    """

    def __init__(
        self,
        *,
        trace_capacity: int,
        untraced_capacity: int,
        capacity: int | None,
        max_markers: int,
    ) -> None:
        self._trace_capacity = trace_capacity
        self._untraced_capacity = untraced_capacity
        self.capacity = capacity
        self._limit: float = math.inf if capacity is None else capacity
        self.depth = 0
        self.peak = 0
        self.readers = 0
        self._max_markers = max_markers
        # Unread results and fetchers of one trace, oldest first, in lists rather than
        # deques: a trace rarely has more than one of each, and there is one list per
        # trace in flight; a deque costs ten times the memory and three times the time
        # to make (memory-per-trace and hop-cost bounds).
        self._results: dict[LaneKey, list[Any]] = {}
        self._scoped: dict[str, list[asyncio.Future[Any]]] = {}
        self._unscoped: deque[asyncio.Future[Any]] = deque()
        self._room: dict[LaneKey, deque[asyncio.Future[None]]] = {}  # a lane is full
        self._producers: deque[asyncio.Future[None]] = deque()  # Rookery is full
        self._emitters: deque[asyncio.Future[None]] = deque()  # emit() at the bound
        self._markers: OrderedDict[str, BaseException] = OrderedDict()
        self._closed: FlowStateError | None = None

    # -- reading the state -------------------------------------------------------------

    def count(self, key: LaneKey) -> int:
        """Unread results of lane ``key``."""
        results = self._results.get(key)
        return len(results) if results is not None else 0

    def has(self, key: LaneKey) -> bool:
        """Whether lane ``key`` has unread results."""
        return key in self._results

    def full(self) -> bool:
        """Whether all traces together hold ``capacity`` unread results."""
        return self.depth >= self._limit

    def _lane_full(self, key: LaneKey) -> bool:
        capacity = self._untraced_capacity if key is None else self._trace_capacity
        return 0 < capacity <= self.count(key)

    def why_full(self, key: LaneKey) -> str:
        """Why a result of lane ``key`` cannot be stored now (for ``QueueFullError``)."""
        if self._lane_full(key):
            capacity = self._untraced_capacity if key is None else self._trace_capacity
            whose = "the payload-only lane" if key is None else f"trace {key}"
            return f"{whose} already has {capacity} unread results"
        return f"the flow holds {self.capacity} unread results (rookery_capacity)"

    # -- producers -----------------------------------------------------------------------

    def offer(self, key: LaneKey, item: Any) -> bool:
        """Hand ``item`` to a fetcher or store it, unless there is no room (``False``).

        There is no room when the lane is full, or when Rookery is and no reader waits
        for a particular trace.
        """
        if (self._scoped or self._unscoped) and self._hand_over(key, item):
            return True
        results = self._results.get(key)
        if results is not None:
            capacity = self._untraced_capacity if key is None else self._trace_capacity
            if 0 < capacity <= len(results):
                return False
        if self.depth >= self._limit and not (self._scoped or self.readers):
            return False
        if results is None:
            self._results[key] = [item]
        else:
            results.append(item)
        self.depth = depth = self.depth + 1  # _stored(), inline: every hop passes here
        if depth > self.peak:
            self.peak = depth
        return True

    async def put(self, key: LaneKey, item: Any) -> None:
        """Hand ``item`` to a fetcher or store it, waiting while there is no room."""
        while not self.offer(key, item):
            if self._lane_full(key):
                await self._wait_for_lane(key)
            else:
                await _wait(self._producers)

    async def _wait_for_lane(self, key: LaneKey) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.setdefault(key, deque()).append(fut)
        try:
            await fut
        finally:
            room = self._room.get(key)
            if room is not None and fut in room:
                room.remove(fut)
            if not room:
                self._room.pop(key, None)

    async def wait_for_room(self) -> None:
        """Wait while Rookery is full (``emit``); results already made go first.

        Raises:
            FlowStateError: the Rookery was closed.
        """
        while self.depth >= self._limit:
            if self._closed is not None:
                raise self._closed
            await _wait(self._emitters)

    def add_reader(self) -> None:
        """A ``flow.call`` caller waits for its trace: producers may store beyond the bound."""
        self.readers += 1
        _wake_all(self._producers)

    def remove_reader(self) -> None:
        """The ``flow.call`` caller counted by :meth:`add_reader` is done."""
        self.readers -= 1

    def put_nowait(self, key: LaneKey, item: Any) -> None:
        """Hand ``item`` to a fetcher or store it, full or not (failures, inline callers)."""
        if not self._hand_over(key, item):
            self._store(key, item)
            self._stored()

    def _hand_over(self, key: LaneKey, item: Any) -> bool:
        if key is not None and key in self._scoped:
            fut = self._pop_scoped(key)
            if fut is not None:
                fut.set_result(item)
                return True
        while self._unscoped:
            fut = self._unscoped.popleft()
            if not fut.done():
                fut.set_result((key, item))
                return True
        return False

    def _pop_scoped(self, key: str) -> asyncio.Future[Any] | None:
        waiters = self._scoped.get(key)
        while waiters:
            fut = waiters.pop(0)
            if not waiters:
                del self._scoped[key]
            if not fut.done():
                return fut
        return None

    def _store(self, key: LaneKey, item: Any) -> None:
        results = self._results.get(key)
        if results is None:
            self._results[key] = [item]
        else:
            results.append(item)

    def _stored(self) -> None:
        self.depth += 1
        if self.depth > self.peak:
            self.peak = self.depth

    # -- fetchers ------------------------------------------------------------------------

    def take(self, key: LaneKey) -> Any:
        """Return the next result (or terminal marker) of lane ``key``, else ``NOTHING``."""
        if key in self._results:
            return self._take(key)
        if key is not None and key in self._markers:
            return Raise(self._markers.pop(key))
        return NOTHING

    def take_any(self) -> Any:
        """Return ``(lane, result)`` of the oldest lane with results, else ``NOTHING``.

        A lane served here moves to the back, so traces are served round-robin.
        """
        if not self._results:
            return NOTHING
        key = next(iter(self._results))
        results = self._results.pop(key)
        item = results.pop(0)
        if results:
            self._results[key] = results
        self._room_freed(key)
        return key, item

    def _take(self, key: LaneKey) -> Any:
        results = self._results[key]
        item = results.pop(0)
        if not results:
            del self._results[key]
        self._room_freed(key)
        return item

    def _room_freed(self, key: LaneKey) -> None:
        """One result of ``key`` was taken: one producer (else one ``emit``) may go on."""
        self.depth -= 1
        if self._room:
            room = self._room.get(key)
            if room:
                _wake_one(room)
        if (self._producers or self._emitters) and self.depth < self._limit:
            if not _wake_one(self._producers):
                _wake_one(self._emitters)

    def waiter(self, key: LaneKey) -> asyncio.Future[Any]:
        """Register and return a future for the next result of ``key`` (``None``: any lane).

        The caller must check :meth:`take` first and, if it stops waiting, call
        :meth:`abandon`.

        Raises:
            FlowStateError: the Rookery was closed.
        """
        if self._closed is not None:
            raise self._closed
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key is None:
            self._unscoped.append(fut)
        else:
            waiters = self._scoped.get(key)
            if waiters is None:
                self._scoped[key] = [fut]
            else:
                waiters.append(fut)
            if self._producers:
                _wake_all(self._producers)  # its result may be behind them
        return fut

    def abandon(self, fut: asyncio.Future[Any], key: LaneKey) -> None:
        """Give up a waiter of ``key``; a result already handed to it goes back in front."""
        if fut.done() and not fut.cancelled():
            got = fut.result()
            if key is None:
                key, got = got
            self._results.setdefault(key, []).insert(0, got)
            self._stored()
            return
        fut.cancel()
        if key is None:
            if fut in self._unscoped:
                self._unscoped.remove(fut)
            return
        waiters = self._scoped.get(key)
        if waiters is not None and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._scoped[key]

    # -- endings -------------------------------------------------------------------------

    def mark(self, trace_id: str, exc: BaseException) -> None:
        """Record a terminal failure for the next scoped fetch of ``trace_id``.

        A fetcher already waiting gets it now; otherwise it is kept as a marker (the
        oldest markers beyond ``max_markers`` are forgotten).
        """
        fut = self._pop_scoped(trace_id)
        if fut is not None:
            fut.set_result(Raise(exc))
            return
        self._markers[trace_id] = exc
        self._markers.move_to_end(trace_id)
        while len(self._markers) > self._max_markers:
            self._markers.popitem(last=False)

    def fail_trace(self, trace_id: str, exc: BaseException) -> None:
        """End ``trace_id`` with ``exc``: wake all its fetchers and keep a marker."""
        waiters = self._scoped.pop(trace_id, [])
        for fut in waiters:
            if not fut.done():
                fut.set_result(Raise(exc))
        self.mark(trace_id, exc)

    def discard(self, key: LaneKey) -> None:
        """Drop the unread results of lane ``key`` and free producers waiting for room."""
        dropped = self._results.pop(key, None)
        for fut in self._room.pop(key, ()):
            if not fut.done():
                fut.set_result(None)
        if dropped:
            self.depth -= len(dropped)
            _wake_all(self._producers)
            _wake_all(self._emitters)

    def close(self, reason: str) -> None:
        """Fail every waiting fetcher and every later fetch with ``FlowStateError``."""
        self._closed = FlowStateError(reason)
        scoped = [fut for waiters in self._scoped.values() for fut in waiters]
        unscoped = list(self._unscoped)
        room = [fut for waiters in self._room.values() for fut in waiters]
        room.extend(self._producers)
        emitters = list(self._emitters)
        self._scoped.clear()
        self._unscoped.clear()
        self._room.clear()
        self._producers.clear()
        self._emitters.clear()
        for fut in scoped:
            if not fut.done():
                fut.set_result(Raise(FlowStateError(reason)))
        for fut in unscoped:
            if not fut.done():
                fut.set_result((None, Raise(FlowStateError(reason))))
        for fut in room:
            fut.cancel()
        for fut in emitters:
            if not fut.done():
                fut.set_exception(FlowStateError(reason))


async def _wait(waiters: deque[asyncio.Future[None]]) -> None:
    """Wait in ``waiters`` until woken; a wake-up this task cannot use goes to the next."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters.append(fut)
    try:
        await fut
    except BaseException:
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            _wake_one(waiters)
        raise
    finally:
        if fut in waiters:
            waiters.remove(fut)
