"""The worker tasks of a flow: take a message, run it, route its outcome, repeat.

A worker belongs to one node at a time (it counts against that node's
``max_concurrency``). It takes the node's ready messages in order; when there is none, it
joins a node where messages wait for a worker, if any, before it waits for more or exits.
That sharing keeps a pipeline from starting a task at every hop: a worker freed in one
node serves the next one (the 10,000-traces wall-clock bound).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from ._execute import execute, failed_call
from ._hooks import HOOKS
from ._routing import route, route_nowait
from .context import Context
from .signals import FlowSignal
from .types import Message

if TYPE_CHECKING:
    from ._engine import Engine
    from ._runner import NodeRunner

__all__ = ["KEEP_IDLE", "YIELD_EVERY", "work"]

KEEP_IDLE: Final = 2
"""Idle workers a node keeps waiting for work; more than that exit when the queue is empty."""

YIELD_EVERY: Final = 32
"""A worker yields to the event loop after this many messages taken without waiting.

A node that never awaits (a controller loop routing to itself, say) would otherwise keep
the loop to itself: no cancel, timeout or ``stop()`` could run.
"""


async def work(runner: NodeRunner) -> None:
    """Run as a worker of ``runner``'s node (and of the nodes it joins) until surplus."""
    task = asyncio.current_task()
    assert task is not None
    runner.starting -= 1
    engine = runner.engine
    in_a_row = 0  # messages taken without waiting since the last yield
    try:
        while True:
            floe = runner.floe
            if floe.ready:
                key, item = floe.get_nowait()
                in_a_row += 1
            else:
                needy = engine.node_needing_workers()
                if needy is not None:
                    runner = _join(task, runner, needy)
                    continue
                if runner.idle >= KEEP_IDLE:
                    return  # surplus worker: the pool shrinks back when traffic drops
                key, item = await runner.wait_for_message()
                in_a_row = 0
            runner.busy += 1
            if floe.ready and not runner.idle:
                runner.want_workers()  # more work than workers: the pool may grow
            trace = None if key is None else engine.traces.get(key)
            if trace is not None:
                trace.running += 1
                runner.workers[task] = key
            try:
                if (
                    runner.single_call
                    and not (isinstance(item, Message) and item.deadline_s is not None)
                    and HOOKS.runtime is None
                ):
                    # The node's call without execute()'s frame around it: a frame less
                    # for each message in flight (memory-per-trace and 10,000-traces
                    # bounds). execute() handles every other case (and node spans).
                    try:
                        outcome = await runner.func(item, Context(runner, key, item))
                    except (Exception, FlowSignal) as exc:
                        outcome = failed_call(runner, key, exc)
                else:
                    outcome = await execute(runner, key, item)
                if not route_nowait(runner, key, outcome):
                    await route(runner, key, outcome, item)
            except asyncio.CancelledError:
                if engine.stopping or trace is None or trace.outcome is None:
                    raise
                task.uncancel()  # the trace ended under us; the worker carries on
            finally:
                runner.done_with(task, key, trace)
            if trace is not None and trace.outcome is not None and task.cancelling():
                await _absorb_cancel(task, engine)
            if in_a_row >= YIELD_EVERY:
                in_a_row = 0
                await asyncio.sleep(0)
    finally:
        del runner.workers[task]


def _join(task: asyncio.Task[None], source: NodeRunner, target: NodeRunner) -> NodeRunner:
    """Move worker ``task`` from ``source``'s pool to ``target``'s."""
    del source.workers[task]
    target.workers[task] = None
    return target


async def _absorb_cancel(task: asyncio.Task[Any], engine: Engine) -> None:
    """Take a cancel aimed at a trace that already ended, so it misses the next message.

    The cancel may still be on its way to this task, or the node may have swallowed it.
    """
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        pass
    while task.cancelling():
        task.uncancel()
    if engine.stopping:
        raise asyncio.CancelledError
