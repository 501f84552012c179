"""``flow.call``: send one envelope to a node and return its trace's first result.

When the node is an egress node with a free concurrency slot, nothing queued and the
trace is new, the caller's own task runs the message, through the same
:func:`~penguiflow._execute.execute` and :func:`~penguiflow._routing.route` steps as a
worker (policies, validation, events, deadlines, concurrency accounting); that saves the
two scheduling round trips of emit-then-fetch, and the first result is handed straight
back. Otherwise the message is queued and fetched like any other.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._execute import Failure, execute
from ._rookery import NOTHING
from ._routing import route
from .errors import ConfigError, FlowStateError
from .types import WM, Message

if TYPE_CHECKING:
    from ._engine import Engine
    from ._runner import NodeRunner
    from ._traces import TraceState

__all__ = ["call_node"]


async def call_node(engine: Engine, runner: NodeRunner, msg: Message) -> Any:
    """Send ``msg`` to ``runner``'s node and return its trace's first result.

    Raises:
        ConfigError: ``msg`` is not a ``Message``.
        FlowStateError: the flow is not running, or was stopped during the call.
    """
    engine.require_running("call")
    if not isinstance(msg, Message):
        raise ConfigError(
            f"flow.call() takes a Message envelope, got {type(msg).__name__}; "
            "use emit()/fetch() for payload-only messages"
        )
    key = msg.trace_id
    if not _may_run_here(engine, runner, key):
        # The caller reads its result as it comes: it needs no room in Rookery, and the
        # producers it may be queued behind must not wait for room either.
        engine.rookery.add_reader()
        try:
            await engine.emit(msg, [runner.node], None, for_caller=True)
            return await engine.fetch(key, None)
        finally:
            engine.rookery.remove_reader()
    task = asyncio.current_task()
    assert task is not None
    trace = engine.traces.open(key)
    trace.pending += 1
    trace.running += 1
    runner.floe.hold(key)  # later messages of the trace queue behind this one
    runner.inline += 1
    engine.inline_started(task, key)
    result: Any = NOTHING
    try:
        outcome = await execute(runner, key, msg)
        if _hand_back(engine, trace, outcome):
            result = outcome
            trace.delivered += 1
        else:
            await route(runner, key, outcome, msg)
    except asyncio.CancelledError:
        # Only a cancel the flow sent (the trace ended, the flow stopped) becomes the
        # call's outcome; a cancel from outside the flow propagates as usual.
        if not (trace.outcome is not None or engine.stopping) or task.cancelling() > 1:
            raise
        task.uncancel()
        if engine.stopping:
            raise FlowStateError("the flow was stopped during call()") from None
    finally:
        runner.inline -= 1
        engine.inline_finished(task)
        runner.floe.task_done(key)
        runner.want_workers()
        engine.finish(trace, ran=True)
    if result is not NOTHING:
        return result
    return await engine.fetch(key, None)


def _may_run_here(engine: Engine, runner: NodeRunner, key: str) -> bool:
    """Whether the caller's task may run the message (see the module docstring)."""
    return (
        runner.egress
        and engine.bus is None
        and engine.traces.get(key) is None
        and runner.floe.size == 0
        and not engine.rookery.has(key)
        and len(runner.workers) + runner.inline < runner.max_concurrency
    )


def _hand_back(engine: Engine, trace: TraceState, outcome: Any) -> bool:
    """Whether ``outcome`` is the trace's first result and may skip Rookery."""
    if outcome is None or type(outcome) is Failure or trace.outcome is not None:
        return False
    payload = outcome.payload if isinstance(outcome, Message) else outcome
    return not isinstance(payload, WM) and not engine.rookery.has(trace.trace_id)
