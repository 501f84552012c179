"""``agent.stream(...)``: a run's events as they happen, then its result.

The run works in its own task; the planner's event callback puts the run's events on a
bounded queue (a slow reader slows the run down rather than piling events up), which
the caller's ``async for`` reads. Leaving the loop early, or cancelling the reader,
cancels the run's task and waits for it to end, so nothing keeps running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .events import PlannerEvent
from .pause import PlannerPause
from .run_state import PlannerFinish

__all__ = ["StreamItem", "stream_run"]

StreamItem = PlannerEvent | PlannerFinish | PlannerPause
"""What ``agent.stream`` yields: events, then the run's result."""

_BUFFER = 256


@dataclass(frozen=True, slots=True)
class _End:
    result: PlannerFinish | PlannerPause | None = None
    error: Exception | None = None


async def stream_run(
    run: Callable[[str], Awaitable[PlannerFinish | PlannerPause]],
    run_id: str,
    listeners: dict[str, asyncio.Queue[Any]],
) -> AsyncGenerator[StreamItem, None]:
    """Run ``run(run_id)`` in a task and yield its events, then its result.

    Args:
        run: starts the run with this id and returns its result.
        run_id: the run's id; events carrying it are delivered to this stream.
        listeners: run id -> queue, read by the agent's event callback.

    Raises:
        Exception: whatever the run raised (after the events before it).
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_BUFFER)
    listeners[run_id] = queue

    async def drive() -> None:
        try:
            result = await run(run_id)
        except Exception as exc:
            await queue.put(_End(error=exc))
            return
        await queue.put(_End(result=result))

    task = asyncio.create_task(drive(), name=f"penguiflow-agent-stream-{run_id}")
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                assert item.result is not None
                yield item.result
                return
            yield item
    finally:
        listeners.pop(run_id, None)
        if not task.done():
            task.cancel()
        await asyncio.wait({task})
