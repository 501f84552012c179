"""The routing step: where a node's outcome, or a message a node emits, goes next.

- A ``Failure`` ends the trace.
- A controller's ``WM`` counts a hop against its budgets, then goes to the successors
  (the node itself, in a controller loop).
- A ``FinalAnswer`` goes to Rookery.
- Anything else goes to every successor, or to Rookery from an egress node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._execute import Failure
from .errors import FlowError, FlowErrorCode, QueueFullError
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


async def route(runner: NodeRunner, key: str | None, outcome: Any) -> None:
    """Send the outcome of one message of ``runner``'s node where it goes."""
    if route_nowait(runner, key, outcome):
        return
    payload = outcome.payload if isinstance(outcome, Message) else outcome
    if isinstance(payload, FinalAnswer):
        await _send(runner, key, outcome, None)
        return
    if isinstance(payload, WM):
        outcome = await _count_hop(runner, key, outcome, payload)
        if outcome is None:
            return
    await _send(runner, key, outcome, _default_targets(runner, payload))


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


async def _count_hop(runner: NodeRunner, key: str | None, result: Any, wm: WM) -> Any:
    """Count a controller hop; end the trace when a budget is spent, else return the result."""
    wm = wm.model_copy(update={"hops": wm.hops + 1})
    code: FlowErrorCode | None = None
    if wm.budget_hops is not None and wm.hops >= wm.budget_hops:
        code = FlowErrorCode.HOP_BUDGET_EXHAUSTED
    elif wm.budget_tokens is not None and wm.tokens_used > wm.budget_tokens:
        code = FlowErrorCode.TOKEN_BUDGET_EXHAUSTED
    if code is None:
        return result.model_copy(update={"payload": wm}) if isinstance(result, Message) else wm
    error = FlowError(
        code,
        f"controller used {wm.hops} hops and {wm.tokens_used} tokens "
        f"(budgets: hops={wm.budget_hops}, tokens={wm.budget_tokens})",
        node_name=runner.name,
        trace_id=key,
        metadata={"wm": wm.model_dump(mode="json")},
    )
    await runner.engine.event("budget_exceeded", runner, key, error=str(error))
    runner.engine.end_trace(key, error)
    return None
