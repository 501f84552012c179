"""Cancelling tasks at their deadlines with one timer per event loop: a cheap timeout.

``asyncio.timeout`` schedules a timer handle per use and takes a dozen Python-level
calls to enter and leave, several microseconds each time. A flow whose messages carry a
deadline, a planner run with ``deadline_s`` and a worker's jobs pay that on every call.
Here the deadlines of everything running on an event loop share one heap, served by a
single timer for the earliest; arming a deadline is a heap push, leaving it sets a flag.

The semantics are those of ``asyncio.timeout``: at the deadline the task is cancelled,
and the ``CancelledError`` leaving the ``with`` block becomes a ``TimeoutError``, unless
the task was also cancelled by someone else; leaving the block withdraws the deadline's
cancel request in every case. A plain ``with`` (no coroutine to enter or leave)::

    with deadline_in(delay) as deadline:
        await work()
    # TimeoutError raised here when the deadline fired; deadline.timed_out is then True
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import weakref
from types import TracebackType
from typing import Any

__all__ = ["Deadline", "deadline_in"]

_ARMED, _FIRED, _LEFT = 0, 1, 2

_COMPACT_AT = 64
"""Left deadlines wait in the heap until their time; past this many (and half the heap),
the heap is rebuilt without them, so far-off deadlines of finished calls do not pile up."""

_MESSAGE = "the deadline passed"


class Deadline:
    """One armed deadline: a context manager (see :func:`deadline_in`).

    Attributes:
        timed_out: the block ended with this deadline's ``TimeoutError``.
    """

    __slots__ = ("_heap", "cancelling", "state", "task", "timed_out", "when")

    def __init__(self, heap: _Heap, task: asyncio.Task[Any], when: float) -> None:
        self._heap = heap
        self.task: asyncio.Task[Any] | None = task
        self.when = when
        self.cancelling = task.cancelling()
        self.state = _ARMED
        self.timed_out = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state, task = self.state, self.task
        self.state, self.task = _LEFT, None  # a left deadline keeps no task alive
        if state == _ARMED:
            heap = self._heap
            heap.left += 1
            if heap.left > _COMPACT_AT and heap.left * 2 > len(heap.entries):
                heap.compact()
        elif state == _FIRED and task is not None:
            # Withdraw this deadline's cancel; a cancel from anyone else still stands.
            if task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
                self.timed_out = True
                raise TimeoutError from exc


class _Heap:
    """The deadlines of one event loop and its one timer.

    Nothing here holds the loop strongly (the timer only through a weak reference), so a
    closed loop is freed along with its heap.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[float, int, Deadline]] = []
        self.left = 0  # left deadlines still in ``entries``
        self.seq = itertools.count()
        self.timer: weakref.ref[asyncio.TimerHandle] | None = None
        self.timer_when = math.inf

    def arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Set the timer for ``when``, earlier than it is set now."""
        timer = self.timer() if self.timer is not None else None
        if timer is not None:
            timer.cancel()
        self.timer = weakref.ref(loop.call_at(when, self.fire))
        self.timer_when = when

    def compact(self) -> None:
        """Drop the left deadlines from the heap."""
        self.entries = [entry for entry in self.entries if entry[2].state != _LEFT]
        heapq.heapify(self.entries)
        self.left = 0

    def fire(self) -> None:
        loop = asyncio.get_running_loop()
        # Timers may run up to the loop's clock resolution early: what this timer was set
        # for is due in any case.
        now = max(loop.time(), self.timer_when)
        self.timer, self.timer_when = None, math.inf
        entries = self.entries
        while entries and entries[0][0] <= now:
            deadline = heapq.heappop(entries)[2]
            if deadline.state == _ARMED and deadline.task is not None:
                deadline.state = _FIRED
                deadline.task.cancel(_MESSAGE)
            else:
                self.left -= 1
        if entries:
            self.timer_when = entries[0][0]
            self.timer = weakref.ref(loop.call_at(self.timer_when, self.fire))


_HEAPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Heap] = weakref.WeakKeyDictionary()

# The heap of the loop that armed the last deadline: most programs run one loop.
_last_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
_last_heap: _Heap | None = None


def _heap_of(loop: asyncio.AbstractEventLoop) -> _Heap:
    global _last_loop, _last_heap
    heap = _HEAPS.get(loop)
    if heap is None:
        heap = _HEAPS[loop] = _Heap()
    _last_loop, _last_heap = weakref.ref(loop), heap
    return heap


def deadline_in(delay: float) -> Deadline:
    """Cancel the current task ``delay`` seconds from now, unless the block is left first.

    Raises:
        RuntimeError: not called from a task.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    if task is None:
        raise RuntimeError("a deadline needs a running task")
    heap = _last_heap
    if heap is None or _last_loop is None or _last_loop() is not loop:
        heap = _heap_of(loop)
    when = loop.time() + (delay if delay > 0.0 else 0.0)
    deadline = Deadline(heap, task, when)
    heapq.heappush(heap.entries, (when, next(heap.seq), deadline))
    if when < heap.timer_when:
        heap.arm(loop, when)
    return deadline
