"""Tool events carry what a viewer needs to show the call: its arguments and its result."""

from __future__ import annotations

from planner_helpers import PlannerFactory, act, final

from penguiflow.planner.events import PlannerEvent


async def test_tool_events_carry_the_arguments_and_the_result(
    make_planner: PlannerFactory,
) -> None:
    events: list[PlannerEvent] = []
    planner, _ = make_planner([act("search", {"text": "a"}), final()], event_callback=events.append)
    await planner.run("q")
    start = next(e for e in events if e.event_type == "tool_call_start")
    result = next(e for e in events if e.event_type == "tool_call_result")
    assert start.extra["args"] == {"text": "a", "limit": 3}  # validated: defaults filled in
    assert result.trace_id == start.trace_id
    assert result.extra["result"] == {"value": "found:a:3"}
