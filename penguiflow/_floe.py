"""``Floe``: the bounded queue in front of a node, with one FIFO lane per trace.

Every edge into a node feeds that node's Floe. Items of one lane (one trace, or the
shared lane of payload-only messages) are handed out one at a time and in order: a lane
is *busy* from ``get`` until ``task_done``. Different lanes are handed out concurrently, so
one slow trace never blocks another. ``put`` waits while the Floe is full (backpressure).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from .errors import QueueFullError

__all__ = ["Floe"]

LaneKey = str | None


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Floe:
    """A bounded, trace-laned queue. ``maxsize <= 0`` means unbounded."""

    __slots__ = (
        "_busy",
        "_closed",
        "_getters",
        "_lane_waiters",
        "_lanes",
        "_putters",
        "_ready",
        "_size",
        "maxsize",
    )

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._lanes: dict[LaneKey, list[Any]] = {}
        self._ready: deque[LaneKey] = deque()
        self._busy: set[LaneKey] = set()
        self._size = 0
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._lane_waiters: dict[LaneKey, asyncio.Future[None]] = {}
        self._closed: BaseException | None = None

    def qsize(self) -> int:
        """Items waiting (not counting the ones being processed)."""
        return self._size

    def full(self) -> bool:
        """Whether ``put`` would wait."""
        return 0 < self.maxsize <= self._size

    def has_ready(self) -> bool:
        """Whether ``get_nowait`` would return an item."""
        return bool(self._ready)

    async def put(self, key: LaneKey, item: Any) -> None:
        """Add ``item`` to lane ``key``, waiting while the Floe is full."""
        while self.full():
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
        if self.full():
            if self._closed is not None:
                raise self._closed
            raise QueueFullError(
                f"queue is full ({self.maxsize} items); use `await emit(...)` to wait for room"
            )
        lane = self._lanes.get(key)
        if lane is None:
            self._lanes[key] = [item]
            if key not in self._busy:
                self._ready.append(key)
                if self._getters:
                    _wake_one(self._getters)
        else:
            lane.append(item)
        self._size += 1
        if self._lane_waiters:
            waiter = self._lane_waiters.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def get(self) -> tuple[LaneKey, Any]:
        """Take the next item of a lane that is not busy, marking the lane busy."""
        while not self._ready:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                if self._ready:
                    _wake_one(self._getters)
                raise
        return self.get_nowait()

    def get_nowait(self) -> tuple[LaneKey, Any]:
        """Take the next ready item; the caller must have checked ``has_ready()``."""
        key = self._ready.popleft()
        lane = self._lanes[key]
        item = lane.pop(0)
        if not lane:
            del self._lanes[key]
        self._size -= 1
        if self._putters:
            _wake_one(self._putters)
        self._busy.add(key)
        return key, item

    def _take(self, key: LaneKey) -> Any:
        lane = self._lanes[key]
        item = lane.pop(0)
        if not lane:
            del self._lanes[key]
        self._size -= 1
        if self._putters:
            _wake_one(self._putters)
        return item

    async def get_lane(self, key: LaneKey) -> Any:
        """Take the next item of lane ``key`` (busy, held by the caller), waiting for one."""
        while key not in self._lanes:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._lane_waiters[key] = fut
            try:
                await fut
            finally:
                if self._lane_waiters.get(key) is fut:
                    del self._lane_waiters[key]
        return self._take(key)

    def hold(self, key: LaneKey) -> None:
        """Mark lane ``key`` busy without taking an item (a caller runs it directly)."""
        self._busy.add(key)

    def task_done(self, key: LaneKey) -> None:
        """Release lane ``key`` after its item was processed."""
        self._busy.discard(key)
        if key in self._lanes:
            self._ready.append(key)
            if self._getters:
                _wake_one(self._getters)

    def drop(self, key: LaneKey) -> int:
        """Remove every waiting item of lane ``key``; return how many were removed."""
        lane = self._lanes.pop(key, None)
        if not lane:
            return 0
        if key not in self._busy:
            try:
                self._ready.remove(key)
            except ValueError:
                pass
        self._size -= len(lane)
        for _ in lane:
            _wake_one(self._putters)
        return len(lane)

    def close(self, exc: BaseException) -> None:
        """Fail producers waiting for room (and later ones that would wait) with ``exc``."""
        self._closed = exc
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_exception(exc)
