"""The routing step: where a node's outcome, or a message a node emits, goes next.

- A ``Failure`` ends the trace.
- A controller's ``WM`` counts a hop, then goes back to the controller (to the
  successors, for a node without an edge to itself). When a budget is spent (hops,
  tokens, the message deadline), a ``FinalAnswer`` saying so replaces it.
- A ``FinalAnswer`` goes to Rookery.
- Anything else goes to every successor, or to Rookery from an egress node.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._execute import DEADLINE_TEXT, HOP_BUDGET_TEXT, TOKEN_BUDGET_TEXT, Failure, final_answer
from .errors import QueueFullError
from .types import WM, FinalAnswer, Message

if TYPE_CHECKING:
    from ._runner import NodeRunner, Targets

__all__ = ["route", "route_nowait", "send", "send_nowait"]

_CONTROL = (WM, FinalAnswer)


def route_nowait(runner: NodeRunner, key: str | None, outcome: Any) -> bool:
    """Route ``outcome`` now if that needs no waiting; ``False``: nothing was done.

    Hops of a controller are counted, with their events, by :func:`route`.
    """
    if outcome is None:
        return True
    if type(outcome) is Failure:
        runner.engine.end_trace(key, outcome.error)
        return True
    payload = outcome.payload if isinstance(outcome, Message) else outcome
    if isinstance(payload, _CONTROL):
        return False
    return runner.engine.try_send(runner.results_to, key, outcome)


async def route(runner: NodeRunner, key: str | None, outcome: Any, incoming: Any = None) -> None:
    """Send the outcome of one message (``incoming``) of ``runner``'s node where it goes."""
    if route_nowait(runner, key, outcome):
        return
    payload = outcome.payload if isinstance(outcome, Message) else outcome
    if isinstance(payload, WM):
        outcome = await _count_hop(runner, key, outcome, payload, incoming)
        payload = outcome.payload if isinstance(outcome, Message) else outcome
    if isinstance(payload, FinalAnswer):
        await _send(runner, key, outcome, None)
        return
    if isinstance(payload, WM) and runner in runner.successors:
        targets: tuple[NodeRunner, ...] | None = (runner,)  # a controller loop
    else:
        targets = _default_targets(runner, payload)
    await _send(runner, key, outcome, targets)


async def send(runner: NodeRunner, key: str | None, value: Any, to: Targets) -> None:
    """``ctx.emit``: send ``value`` to ``to`` (default: successors, or Rookery).

    Raises:
        FlowStateError: the flow is not running.
        UnknownTargetError: ``to`` names a node that is not a successor.
    """
    runner.engine.require_running("emit")
    targets = runner.targets_for(to)
    if targets is None:
        targets = _default_targets(runner, _payload(value))
    await _send(runner, key, value, targets)


def send_nowait(runner: NodeRunner, key: str | None, value: Any, to: Targets) -> None:
    """``ctx.emit_nowait``: like :func:`send` but raise instead of waiting for room.

    Raises:
        FlowStateError: the flow is not running.
        UnknownTargetError: ``to`` names a node that is not a successor.
        QueueFullError: a target queue, the trace's room in Rookery, or Rookery is full.
    """
    engine = runner.engine
    engine.require_running("emit_nowait")
    targets = runner.targets_for(to)
    if targets is None:
        targets = _default_targets(runner, _payload(value))
    if targets is None:
        if not engine.deliver_nowait(key, value):
            raise QueueFullError(
                f"{engine.rookery.why_full(key)}; use `await ctx.emit(...)` to wait until "
                "they are fetched"
            )
        return
    engine.enqueue_nowait(targets, key, value)


def _payload(value: Any) -> Any:
    return value.payload if isinstance(value, Message) else value


def _default_targets(runner: NodeRunner, payload: Any) -> tuple[NodeRunner, ...] | None:
    """The successors a value goes to by default, or ``None`` for Rookery.

    An egress node (no successor but itself) sends to Rookery, except a controller's
    ``WM``, which loops back to the node.
    """
    if not runner.successors or (runner.egress and not isinstance(payload, WM)):
        return None
    return runner.successors


async def _send(
    runner: NodeRunner, key: str | None, value: Any, targets: tuple[NodeRunner, ...] | None
) -> None:
    """Queue ``value`` on ``targets`` (``None``: deliver it to Rookery), waiting for room."""
    engine = runner.engine
    if engine.try_send(targets, key, value):
        return
    if targets is None:
        await engine.deliver(key, value)
        return
    # While it waits for room downstream, the worker counts as blocked: the node starts
    # no more workers that would only wait too (see NodeRunner.want_workers).
    runner.blocked += 1
    try:
        await engine.send(targets, key, value)
    finally:
        runner.blocked -= 1


async def _count_hop(
    runner: NodeRunner, key: str | None, result: Any, wm: WM, incoming: Any
) -> Any:
    """Count a controller hop; a ``FinalAnswer`` when a budget is spent, else the result.

    A controller that got a ``WM`` and left ``hops`` as it was is counted one hop; one
    that moved ``hops`` on itself is taken at its word. A ``WM`` made from another
    payload starts the loop: it is not a hop yet.
    """
    before = incoming.payload if isinstance(incoming, Message) else incoming
    hops = wm.hops
    if isinstance(before, WM) and hops <= before.hops:
        hops = before.hops + 1
    deadline = result.deadline_s if isinstance(result, Message) else None
    text: str | None = None
    if deadline is not None and time.time() > deadline:
        text = DEADLINE_TEXT
    elif wm.budget_tokens is not None and wm.tokens_used >= wm.budget_tokens:
        text = TOKEN_BUDGET_TEXT
    elif wm.budget_hops is not None and hops >= wm.budget_hops:
        text = HOP_BUDGET_TEXT
    if text is None:
        if hops == wm.hops:
            return result
        wm = wm.model_copy(update={"hops": hops})
        return result.model_copy(update={"payload": wm}) if isinstance(result, Message) else wm
    await runner.engine.event(
        "budget_exceeded",
        runner,
        key,
        error=text,
        extra={"hops": hops, "tokens_used": wm.tokens_used, "wm": wm.model_dump(mode="json")},
    )
    return final_answer(result, text)
