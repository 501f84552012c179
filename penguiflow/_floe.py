"""``Floe``: the bounded queue in front of a node, with one FIFO lane per trace.

Every edge into a node feeds that node's Floe. Items of one lane (one trace, or the
shared lane of payload-only messages) are handed out one at a time and in order: a lane
is *busy* from ``get`` until ``task_done``. Different lanes are handed out concurrently, so
one slow trace never blocks another. ``put`` waits while the Floe is full (backpressure).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Final

from .errors import QueueFullError

__all__ = ["BUSY", "Floe"]

LaneKey = str | None


class _Many(list[Any]):
    """The waiting items of a lane that has more than one (oldest first)."""

    __slots__ = ()


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


BUSY: Final = _Marker("BUSY")
"""The ``lanes`` value of a busy lane without waiting items."""

_ABSENT: Final = _Marker("ABSENT")


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Floe:
    """A bounded, trace-laned queue. ``maxsize <= 0`` means unbounded.

    ``lanes`` maps each lane that has waiting items or is busy to: ``BUSY`` (busy, no
    items), its one waiting item, or a ``_Many`` list of its items (one lane of many
    messages, such as the shared lane of payload-only messages). Most lanes hold one
    message at a time, so most need no list. An idle lane without items is not in
    ``lanes``. ``ready`` lists, oldest first, the lanes that have items and are not busy.
    Both are read by the node's workers on their hot path and must only be changed
    through the methods.
    """

    __slots__ = (
        "_closed",
        "_getters",
        "_lane_waiters",
        "_putters",
        "lanes",
        "maxsize",
        "ready",
        "size",
    )

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.lanes: dict[LaneKey, Any] = {}
        self.ready: deque[LaneKey] = deque()
        self.size = 0
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._lane_waiters: dict[LaneKey, asyncio.Future[None]] = {}
        self._closed: BaseException | None = None

    def qsize(self) -> int:
        """Items waiting (not counting the ones being processed)."""
        return self.size

    def full(self) -> bool:
        """Whether ``put`` would wait."""
        return 0 < self.maxsize <= self.size

    def has_ready(self) -> bool:
        """Whether ``get_nowait`` would return an item."""
        return bool(self.ready)

    async def put(self, key: LaneKey, item: Any) -> None:
        """Add ``item`` to lane ``key``, waiting while the Floe is full."""
        while 0 < self.maxsize <= self.size:
            if self._closed is not None:
                raise self._closed
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                if not self.full():
                    _wake_one(self._putters)
                raise
        self.put_nowait(key, item)

    def put_nowait(self, key: LaneKey, item: Any) -> None:
        """Add ``item`` to lane ``key`` now.

        Raises:
            QueueFullError: the Floe is full.
        """
        if 0 < self.maxsize <= self.size:
            if self._closed is not None:
                raise self._closed
            raise QueueFullError(
                f"queue is full ({self.maxsize} items); use `await emit(...)` to wait for room"
            )
        self.size += 1
        lanes = self.lanes
        lane = lanes.get(key, _ABSENT)
        if lane is _ABSENT:
            lanes[key] = item
            self.ready.append(key)
            if self._getters:
                _wake_one(self._getters)
            return
        # The lane is busy, or ready already: it is not added to ``ready`` again.
        if lane is BUSY:
            lanes[key] = item
        elif type(lane) is _Many:
            lane.append(item)
        else:
            lanes[key] = _Many((lane, item))
        if self._lane_waiters:
            waiter = self._lane_waiters.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def get(self) -> tuple[LaneKey, Any]:
        """Take the next item of a lane that is not busy, marking the lane busy."""
        while not self.ready:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                if self.ready:
                    _wake_one(self._getters)
                raise
        return self.get_nowait()

    def get_nowait(self) -> tuple[LaneKey, Any]:
        """Take the next ready item, marking its lane busy; the caller checked ``ready``."""
        key = self.ready.popleft()
        return key, self._take(key)

    def _take(self, key: LaneKey) -> Any:
        lanes = self.lanes
        lane = lanes[key]
        if type(lane) is _Many:
            item = lane.pop(0)
            if not lane:
                lanes[key] = BUSY
        else:
            item = lane
            lanes[key] = BUSY
        self.size -= 1
        if self._putters:
            _wake_one(self._putters)
        return item

    async def get_lane(self, key: LaneKey) -> Any:
        """Take the next item of lane ``key`` (busy, held by the caller), waiting for one."""
        while self.lanes.get(key, BUSY) is BUSY:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._lane_waiters[key] = fut
            try:
                await fut
            finally:
                if self._lane_waiters.get(key) is fut:
                    del self._lane_waiters[key]
        return self._take(key)

    def hold(self, key: LaneKey) -> None:
        """Mark lane ``key`` busy without taking an item (its caller runs one directly).

        The lane must be idle and empty (not in ``lanes``).
        """
        self.lanes[key] = BUSY

    def hand_over(self, key: LaneKey, to: Floe) -> None:
        """Move busy lane ``key`` to Floe ``to``: its holder carries its message on there.

        The lane must have no waiting items here and be idle and empty in ``to``.
        """
        del self.lanes[key]
        to.lanes[key] = BUSY

    def task_done(self, key: LaneKey) -> None:
        """Release lane ``key`` after its item was processed."""
        lane = self.lanes.get(key, _ABSENT)
        if lane is BUSY:
            del self.lanes[key]
        elif lane is not _ABSENT:
            self.ready.append(key)
            if self._getters:
                _wake_one(self._getters)

    def drop(self, key: LaneKey) -> int:
        """Remove every waiting item of lane ``key``; return how many were removed."""
        lane = self.lanes.get(key, _ABSENT)
        if lane is _ABSENT or lane is BUSY:
            return 0
        count = len(lane) if type(lane) is _Many else 1
        try:
            self.ready.remove(key)
        except ValueError:
            self.lanes[key] = BUSY  # busy: the lane stays until it is released
        else:
            del self.lanes[key]
        self.size -= count
        for _ in range(count):
            if not self._putters:
                break
            _wake_one(self._putters)
        return count

    def close(self, exc: BaseException) -> None:
        """Fail producers waiting for room (and later ones that would wait) with ``exc``."""
        self._closed = exc
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_exception(exc)
