"""Running a call in the caller's task: the fast path of ``PenguiFlow.call``.

When the target node has no successors, a free concurrency slot and nothing queued, and
the trace is new, the node runs in the task that called ``flow.call`` with the same
policies, validation, events, deadlines and concurrency accounting as a worker would
apply; only the two scheduling round trips of emit-then-fetch are saved, and the first
result is handed back directly. A cancel of the trace (or a stop of the flow) that arrives
while the node runs is turned back into the terminal outcome the caller would have
fetched.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._kinds import CONTROL, ENVELOPE, kind_of, payload_kind
from ._lifecycle import FlowState
from ._rookery import NOTHING, Raise
from ._trace import TraceState
from .errors import ConfigError, FlowStateError
from .types import Message

if TYPE_CHECKING:
    from ._runner import NodeRunner
    from .flow import PenguiFlow

__all__ = ["call_node"]


async def call_node(flow: PenguiFlow, runner: NodeRunner, msg: Message) -> Any:
    """Send ``msg`` to ``runner`` and return its trace's first result (``flow.call``).

    Runs the node in this task when it may (see the module docstring), else queues the
    message and fetches.
    """
    if flow._state is not FlowState.RUNNING:
        flow._require_running("call")
    if kind_of(msg) != ENVELOPE:
        raise ConfigError(
            f"flow.call() takes a Message envelope, got {type(msg).__name__}; "
            "use emit()/fetch() for payload-only messages"
        )
    key = msg.trace_id
    if not (
        runner.egress
        and flow._bus is None
        and key not in flow._traces
        and not runner.floe.size
        and not flow._rookery.has(key)
        and runner.workers + runner.inline < runner.max_concurrency
    ):
        await flow.emit(msg, to=runner.node)
        return await flow.fetch(trace_id=key)
    task = asyncio.current_task()
    assert task is not None
    trace = flow._traces[key] = TraceState(key, 1, 0, task)
    floe = runner.floe
    floe.hold(key)
    runner.inline += 1
    flow._inline_tasks.add(task)
    direct: Any = NOTHING  # the first result, when it can skip Rookery
    try:
        result = await runner._process(key, msg)
        if result is None:
            pass
        elif payload_kind(result) == CONTROL:
            await runner._route(key, result)  # hops and budgets; Rookery or round again
        elif flow._rookery.has(key) or trace.terminated is not None:
            # Results streamed earlier come first (or the trace ended: dropped).
            if not flow._deliver_now(key, trace, result):
                await runner._route(key, result)
        else:
            direct = result
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
        if floe.ready:
            runner.ensure_worker()
        if direct is not NOTHING:
            trace.delivered += 1  # handed straight back: it never waits in Rookery
        flow._finish(trace, task)
    if direct is not NOTHING:
        return direct
    item = flow._rookery.take(key)
    if item is NOTHING:
        return await flow.fetch(trace_id=key)
    if type(item) is Raise:
        raise item.exc
    return item
