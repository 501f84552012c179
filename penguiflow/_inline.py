"""Running a call in the caller's task: the fast path of ``PenguiFlow.call``.

When the target node has a free concurrency slot, nothing queued and the trace is new,
the node runs in the task that called ``flow.call`` with the same policies, validation,
events, deadlines and concurrency accounting as a worker would apply; only the two
scheduling round trips of emit-then-fetch are saved. A cancel of the trace (or a stop of
the flow) that arrives while the node runs is turned back into the terminal outcome the
caller would have fetched.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._rookery import Raise
from .errors import FlowStateError
from .types import Message

if TYPE_CHECKING:
    from ._runner import NodeRunner
    from .flow import PenguiFlow

__all__ = ["can_run_inline", "run_inline"]


def can_run_inline(flow: PenguiFlow, runner: NodeRunner, key: str) -> bool:
    """Whether a call of trace ``key`` on ``runner`` may run in the caller's task."""
    return (
        runner.egress
        and flow._bus is None
        and key not in flow._traces
        and runner.floe.qsize() == 0
        and flow._rookery.count(key) == 0
        and len(runner.workers) + runner.inline < runner.policy.max_concurrency
    )


async def run_inline(flow: PenguiFlow, runner: NodeRunner, key: str, msg: Message) -> Any:
    """Run ``msg`` through ``runner`` in this task and return the trace's first result."""
    task = asyncio.current_task()
    assert task is not None
    trace = flow._new_trace(key)
    trace.pending = 1
    trace.running = task
    floe = runner.floe
    floe.hold(key)
    runner.inline += 1
    flow._inline_tasks.add(task)
    try:
        await runner._process(key, msg)
    except asyncio.CancelledError:
        # Only a cancel that the flow itself sent (trace ended, flow stopped) becomes an
        # outcome; a cancel from outside the flow propagates as usual.
        ours = trace.terminated is not None or flow._stopping
        if not ours or task.cancelling() > 1:
            raise
        task.uncancel()
        if flow._stopping:
            raise FlowStateError("the flow was stopped during call()") from None
    finally:
        runner.inline -= 1
        flow._inline_tasks.discard(task)
        floe.task_done(key)
        if floe.has_ready():
            runner.ensure_worker()
        flow._finish(trace, task)
    ready, item = flow._rookery.get_nowait(key, scoped=True)
    if not ready:
        return await flow.fetch(trace_id=key)
    if type(item) is Raise:
        raise item.exc
    return item
