"""``DeadlineWatch``: the outer time bound of a worker's jobs, one timer for all of them.

The runtime ends a trace at its message deadline; a worker also cancels a job that runs
past a bound a little later, for nodes that ignore cancellation. An ``asyncio.timeout``
per job would put a timer in the event loop for every job. Every job of a worker gets the
same budget, so the bounds come in the order the jobs started: only the earliest one needs
a timer, and it moves on to the next running job when it fires.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["DeadlineWatch"]


class DeadlineWatch:
    """Cancels each watched task that runs longer than ``budget_s``.

    Args:
        budget_s: the longest a task may run once watched.
    """

    def __init__(self, budget_s: float) -> None:
        self._budget_s = budget_s
        # Insertion order is start order, so it is also the order of the bounds.
        self._bounds: dict[asyncio.Task[Any], float] = {}
        self._fired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` if it is still watched ``budget_s`` from now."""
        loop = asyncio.get_running_loop()
        bound = loop.time() + self._budget_s
        self._bounds[task] = bound
        if self._timer is None:
            self._timer = loop.call_at(bound, self._fire)

    def unwatch(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching ``task``; ``True`` if the watch cancelled it.

        The watch's cancel request is then withdrawn (``task.uncancel()``), as
        ``asyncio.timeout`` does: if ``task.cancelling()`` is still above what it was
        before, someone else cancelled the task too.
        """
        self._bounds.pop(task, None)
        if task not in self._fired:
            return False
        self._fired.discard(task)
        task.uncancel()
        return True

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._bounds:
            task, bound = next(iter(self._bounds.items()))
            if bound > now:
                self._timer = loop.call_at(bound, self._fire)
                return
            del self._bounds[task]
            if not task.done():
                self._fired.add(task)
                task.cancel("the job ran past its deadline")

    def close(self) -> None:
        """Stop the timer; watched tasks are no longer cancelled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._bounds.clear()
