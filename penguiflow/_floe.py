"""``Floe``: the bounded queue in front of a node, with one FIFO lane per trace.

Every edge into a node feeds that node's Floe. The messages of one lane (one trace, or
the shared lane of payload-only messages) are handed out one at a time and in order: a
lane is *active* from the moment its next message is ready until the worker that took it
calls ``task_done``. Different lanes are handed out concurrently, so one slow trace never
blocks another. ``put`` waits while the Floe is full (backpressure).

Layout: ``ready`` holds, in arrival order, the next message of each active lane that no
worker has taken yet. ``_lanes`` maps every active lane to the deque of the messages
waiting behind that one (``None`` while there are none).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from .errors import QueueFullError

__all__ = ["Floe", "LaneKey"]

LaneKey = str | None


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Floe:
    """A bounded, trace-laned queue. ``maxsize <= 0`` means unbounded.

    Attributes:
        name: the node the Floe feeds (for error messages).
        maxsize: the most messages waiting at once (``<= 0``: no limit).
        size: messages waiting (ready or behind their lane), not those being handled.
        peak: the largest ``size`` seen.
        ready: ``(lane, message)`` of each lane whose next message no worker has taken
            yet, oldest first; read it, change it only through the methods.
    """

    __slots__ = (
        "_closed",
        "_getters",
        "_lane_waiters",
        "_lanes",
        "_putters",
        "maxsize",
        "name",
        "peak",
        "ready",
        "size",
    )

    def __init__(self, maxsize: int, name: str = "") -> None:
        self.name = name
        self.maxsize = maxsize
        self.size = 0
        self.peak = 0
        self.ready: deque[tuple[LaneKey, Any]] = deque()
        self._lanes: dict[LaneKey, deque[Any] | None] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._lane_waiters: dict[LaneKey, asyncio.Future[None]] = {}
        self._closed: BaseException | None = None

    # -- reading the state -------------------------------------------------------------

    def full(self) -> bool:
        """Whether ``put`` would wait."""
        return 0 < self.maxsize <= self.size

    def producers_waiting(self) -> int:
        """Producers waiting in ``put`` for room."""
        return sum(1 for fut in self._putters if not fut.done())

    # -- producers -----------------------------------------------------------------------

    async def put(self, key: LaneKey, item: Any) -> None:
        """Add ``item`` to lane ``key``, waiting while the Floe is full.

        Raises:
            BaseException: the error given to :meth:`close`, once closed and full.
        """
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
                    _wake_one(self._putters)  # pass on a wake-up this producer cannot use
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
                f"the queue of node {self.name!r} is full ({self.maxsize} messages); "
                "use `await emit(...)` to wait for room"
            )
        self.size += 1
        if self.size > self.peak:
            self.peak = self.size
        lanes = self._lanes
        if key not in lanes:
            lanes[key] = None
            self.ready.append((key, item))
            if self._getters:
                _wake_one(self._getters)
            return
        behind = lanes[key]
        if behind is None:
            behind = lanes[key] = deque()
        behind.append(item)
        if self._lane_waiters:
            waiter = self._lane_waiters.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    # -- workers -------------------------------------------------------------------------

    async def get(self) -> tuple[LaneKey, Any]:
        """Take the next ready message, waiting for one; its lane stays active."""
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
        """Take the next ready message; the caller checked that ``ready`` is not empty."""
        taken = self.ready.popleft()
        self.size -= 1
        if self._putters:
            _wake_one(self._putters)
        return taken

    async def get_lane(self, key: LaneKey) -> Any:
        """Take the next message of lane ``key``, which the caller holds active."""
        while not self._lanes.get(key):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._lane_waiters[key] = fut
            try:
                await fut
            finally:
                if self._lane_waiters.get(key) is fut:
                    del self._lane_waiters[key]
        behind = self._lanes[key]
        assert behind is not None
        item = behind.popleft()
        self.size -= 1
        if self._putters:
            _wake_one(self._putters)
        return item

    def hold(self, key: LaneKey) -> None:
        """Make idle lane ``key`` active without a message (its caller runs one directly)."""
        self._lanes[key] = None

    def task_done(self, key: LaneKey) -> None:
        """Release lane ``key``: its next message, if any, becomes ready."""
        behind = self._lanes.get(key)
        if behind:
            self.ready.append((key, behind.popleft()))
            if self._getters:
                _wake_one(self._getters)
        else:
            self._lanes.pop(key, None)

    # -- ending --------------------------------------------------------------------------

    def drop(self, key: LaneKey) -> int:
        """Remove every waiting message of lane ``key``; return how many were removed."""
        if key not in self._lanes:
            return 0
        behind = self._lanes[key]
        dropped = len(behind) if behind is not None else 0
        self._lanes[key] = None  # the lane stays active while a worker holds it
        for index, (lane, _) in enumerate(self.ready):
            if lane == key:
                del self.ready[index]
                del self._lanes[key]  # its next message was not taken: nobody holds it
                dropped += 1
                break
        self.size -= dropped
        for _ in range(dropped):
            _wake_one(self._putters)
        return dropped

    def close(self, exc: BaseException) -> None:
        """Fail producers waiting for room (and later ones that would wait) with ``exc``."""
        self._closed = exc
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_exception(exc)
