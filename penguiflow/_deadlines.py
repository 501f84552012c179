"""Cancelling tasks at their deadlines with one timer: a cheap ``asyncio.timeout``.

``asyncio.timeout`` schedules a timer handle per use and takes a dozen Python-level
calls to enter and leave, several microseconds each time. A flow whose messages carry a
deadline, a planner run with ``deadline_s`` and a worker's jobs pay that on every call.
:class:`Deadlines` keeps the deadlines of all of them in one heap, with one event-loop
timer for the earliest; arming and leaving a deadline is a heap push and a flag.

The semantics are those of ``asyncio.timeout``: at the deadline the task is cancelled;
the code that armed the deadline turns the resulting ``CancelledError`` into a
``TimeoutError`` with :meth:`Deadlines.expired`, unless the task was also cancelled by
someone else; leaving withdraws the deadline's cancel request in every case::

    deadline = deadlines.arm(task, delay)
    try:
        await work()
    except asyncio.CancelledError:
        if deadlines.expired(deadline):
            raise TimeoutError from None
        raise
    finally:
        deadlines.leave(deadline)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from typing import Any

__all__ = ["Deadline", "Deadlines"]

_ARMED, _FIRED, _LEFT = 0, 1, 2

_COMPACT_AT = 64
"""Left deadlines wait in the heap until their time; past this many (and half the heap),
the heap is rebuilt without them, so far-off deadlines of finished calls do not pile up."""


class Deadline:
    """One armed deadline (see :meth:`Deadlines.arm`)."""

    __slots__ = ("cancelling", "state", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.state = _ARMED


class Deadlines:
    """The deadlines of many tasks of one event loop, served by a single timer.

    Args:
        message: the cancel message a task gets at its deadline.
    """

    def __init__(self, message: str = "the deadline passed") -> None:
        self._message = message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: list[tuple[float, int, Deadline]] = []
        self._left = 0  # left deadlines still in the heap
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = math.inf

    def arm(self, task: asyncio.Task[Any], delay: float) -> Deadline:
        """Cancel ``task`` ``delay`` seconds from now, unless the deadline is left first."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._reset(loop)
        when = loop.time() + max(delay, 0.0)
        deadline = Deadline(task, when)
        heapq.heappush(self._heap, (when, next(self._seq), deadline))
        if when < self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(when, self._fire)
            self._timer_when = when
        return deadline

    def expired(self, deadline: Deadline) -> bool:
        """After a ``CancelledError``: ``True`` if it came from this deadline alone.

        Withdraws the deadline's cancel request; ``False`` when the deadline did not fire
        or the task was cancelled by someone else too (the error then propagates).
        """
        if deadline.state != _FIRED:
            return False
        deadline.state = _LEFT
        return deadline.task.uncancel() <= deadline.cancelling

    def leave(self, deadline: Deadline) -> None:
        """Disarm ``deadline`` (idempotent); withdraw its cancel request if it fired."""
        state = deadline.state
        if state == _ARMED:
            deadline.state = _LEFT
            self._left += 1
            if self._left > _COMPACT_AT and self._left * 2 > len(self._heap):
                self._compact()
        elif state == _FIRED:
            deadline.state = _LEFT
            deadline.task.uncancel()

    def close(self) -> None:
        """Stop the timer and forget every deadline: none fires any more."""
        loop = self._loop
        if loop is not None:
            self._reset(loop)

    def _fire(self) -> None:
        loop = self._loop
        assert loop is not None
        # Timers may run up to the loop's clock resolution early: what this timer was set
        # for is due in any case.
        now = max(loop.time(), self._timer_when)
        self._timer, self._timer_when = None, math.inf
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline = heapq.heappop(heap)[2]
            if deadline.state == _ARMED:
                deadline.state = _FIRED
                deadline.task.cancel(self._message)
            else:
                self._left -= 1
        if heap:
            self._timer_when = heap[0][0]
            self._timer = loop.call_at(self._timer_when, self._fire)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if entry[2].state != _LEFT]
        heapq.heapify(self._heap)
        self._left = 0

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve another event loop (the previous one's deadlines went with it)."""
        if self._timer is not None:
            self._timer.cancel()
        self._loop = loop
        self._heap = []
        self._left = 0
        self._timer, self._timer_when = None, math.inf
