"""Helpers for testing flows: ``run_one``, ``assert_node_sequence``, ``simulate_error``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ._typing import NodeFunc
from .events import FlowEvent
from .flow import PenguiFlow
from .registry import ModelRegistry
from .types import Message

__all__ = ["assert_node_sequence", "get_recorded_events", "run_one", "simulate_error"]

_MAX_TRACES = 1_000
_recorded: OrderedDict[str, list[FlowEvent]] = OrderedDict()


async def _record(event: FlowEvent) -> None:
    if event.trace_id is None:
        return
    events = _recorded.get(event.trace_id)
    if events is None:
        events = _recorded[event.trace_id] = []
        while len(_recorded) > _MAX_TRACES:
            _recorded.popitem(last=False)
    events.append(event)


async def run_one(
    flow: PenguiFlow,
    message: Message,
    *,
    registry: ModelRegistry | None = None,
    timeout_s: float | None = 1.0,
) -> Any:
    """Run ``flow`` on one envelope and return its first result, then stop the flow.

    Events of the trace are recorded for :func:`assert_node_sequence`.

    Raises:
        FlowError: the trace failed.
        TimeoutError: no result within ``timeout_s``.
    """
    flow.add_middleware(_record)
    flow.run(registry=registry)
    try:
        await flow.emit(message)
        return await flow.fetch(trace_id=message.trace_id, timeout=timeout_s)
    finally:
        await flow.stop()


def get_recorded_events(trace_id: str) -> list[FlowEvent]:
    """Return the events recorded by :func:`run_one` for ``trace_id``."""
    return list(_recorded.get(trace_id, ()))


def assert_node_sequence(trace_id: str, expected: list[str]) -> None:
    """Assert that the nodes of ``trace_id`` started in the ``expected`` order.

    Raises:
        AssertionError: the recorded order differs (the message shows both).
    """
    started = [
        e.node_name
        for e in _recorded.get(trace_id, ())
        if e.event_type == "node_start" and e.attempt == 0
    ]
    if started != expected:
        raise AssertionError(f"trace {trace_id}: nodes ran as {started}, expected {expected}")


def simulate_error(
    node_name: str,
    code: str = "simulated",
    *,
    fail_times: int = 1,
    result: Any = None,
    exception_type: type[Exception] = RuntimeError,
) -> NodeFunc:
    """Return a node function that fails ``fail_times`` times, then succeeds.

    On success it returns ``result``, or the incoming message when ``result`` is ``None``.
    The attempt count is kept per function in ``func.attempts``.
    """
    state = {"attempts": 0}

    async def simulated(message: Any, ctx: Any) -> Any:
        state["attempts"] += 1
        simulated.attempts = state["attempts"]  # type: ignore[attr-defined]
        if state["attempts"] <= fail_times:
            raise exception_type(f"{node_name}: {code} (attempt {state['attempts']})")
        return message if result is None else result

    simulated.__name__ = node_name
    simulated.attempts = 0  # type: ignore[attr-defined]
    return simulated
