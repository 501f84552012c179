"""Instrumentation hooks of the planner: empty until ``penguiflow.telemetry`` fills them.

A planner reads its hooks once per run: the ones given as ``ReactPlanner(telemetry=...)``,
else the process-wide ``PLANNER_HOOKS.planner``. With none, a run takes no other branch.
With some, the run gets a :class:`RunTrace` (kept on its ``CallInfo.trace``) that its
model requests, tool calls, pauses and resumes report to; the places that report test
that one attribute.

A paused run keeps its trace context (W3C headers) in
``RunState.extensions["telemetry"]``, stored with the run, so that a resume in another
process continues the same trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .llm_types import LLMResponse
    from .pause import PendingCall, PlannerPause
    from .run_state import PlannerFinish, RunState

__all__ = [
    "PLANNER_HOOKS",
    "TELEMETRY_EXTENSION",
    "PauseSpan",
    "PlannerHooks",
    "PlannerHooksSlot",
    "PlannerTelemetry",
    "RunStart",
    "RunTrace",
    "ToolSpan",
    "TraceRun",
    "run_tracer",
    "stored_carrier",
    "traced_run",
]

TELEMETRY_EXTENSION = "telemetry"
"""The ``RunState.extensions`` entry holding the run's trace context (W3C headers)."""


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a run span starts with.

    Attributes:
        agent: the planner's ``name``, if it has one.
        model: the model the planner asks.
        run_id: the run.
        tenant_id: the run's tenant.
        conversation_id: the session of the run's memory, if any.
        query: the user's request (recorded only when content is captured).
        carrier: the trace context stored with the run, if any.
        how: ``run`` (started here), ``resume`` (a pause was claimed) or ``recover``
            (taken over from a process that died).
    """

    agent: str | None
    model: str
    run_id: str
    tenant_id: str
    conversation_id: str | None
    query: str
    carrier: Mapping[str, str] | None
    how: Literal["run", "resume", "recover"]


class ToolSpan(Protocol):
    """The span of one tool call."""

    def ended(
        self, *, trace_id: str, ok: bool, code: str | None, result: Any, attempts: int
    ) -> None:
        """Record how the call ended (``code``: the failure's code, or ``paused``)."""
        ...


class PauseSpan(Protocol):
    """The span of a pause being committed."""

    def committed(self, pause_id: str) -> None:
        """The pause and the run's state are stored."""
        ...


class RunTrace(Protocol):
    """The trace of one run in this process; its span is current while the run works."""

    def carrier(self) -> dict[str, str]:
        """The current trace context as W3C headers, to store with the run."""
        ...

    def chat(
        self,
        request: Awaitable[str | LLMResponse],
        *,
        model: str,
        messages: list[dict[str, Any]],
    ) -> Awaitable[str | LLMResponse]:
        """Return ``request`` (a model request not yet awaited) wrapped in a chat span."""
        ...

    def tool(
        self, name: str, *, side_effects: str, args: BaseModel
    ) -> AbstractContextManager[ToolSpan]:
        """A span around one tool call, current while the tool runs."""
        ...

    def pause(self, reason: str, calls: Sequence[PendingCall]) -> AbstractContextManager[PauseSpan]:
        """A span around committing a pause; the run's stored context points at it."""
        ...

    def resume(
        self, pause_id: str, *, reclaimed: bool, decisions: Mapping[str, str]
    ) -> AbstractContextManager[None]:
        """A span around acting on a claimed pause, until the step is committed."""
        ...

    def ended(self, result: PlannerFinish | PlannerPause, usage: Mapping[str, Any]) -> None:
        """Record how the run ended here and what its model calls used here."""
        ...


class PlannerHooks(Protocol):
    """What a planner reports while telemetry is on."""

    def run(self, start: RunStart) -> AbstractContextManager[RunTrace]:
        """The span of a run (``invoke_agent``) while this process works on it."""
        ...


class PlannerTelemetry(Protocol):
    """What ``ReactPlanner(telemetry=...)`` takes: ``penguiflow.telemetry.Telemetry``."""

    @property
    def planner(self) -> PlannerHooks:
        """The planner's hooks."""
        ...


class PlannerHooksSlot:
    """The process-wide planner hooks (one instance, :data:`PLANNER_HOOKS`).

    Attributes:
        planner: the hooks, or ``None`` when telemetry is off.
    """

    __slots__ = ("planner",)

    def __init__(self) -> None:
        self.planner: PlannerHooks | None = None


PLANNER_HOOKS = PlannerHooksSlot()
"""The hooks planners read; ``penguiflow.telemetry.instrument()`` sets them."""


def stored_carrier(extensions: Mapping[str, Any]) -> Mapping[str, str] | None:
    """The trace context a run's state was stored with, if any."""
    found = extensions.get(TELEMETRY_EXTENSION)
    if not isinstance(found, Mapping):
        return None
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)} or None


TraceRun: TypeAlias = "Callable[[RunState], AbstractContextManager[RunTrace]]"
"""Opens the span of a run (its hooks' :meth:`PlannerHooks.run`, given the run's state)."""

Ended: TypeAlias = "PlannerFinish | PlannerPause"


async def traced_run(
    trace_run: TraceRun, state: RunState, work: Callable[[RunTrace], Awaitable[Ended]]
) -> Ended:
    """Run ``work`` inside the span of ``state``'s run; record how it ended and its usage."""
    with trace_run(state) as trace:
        mark = state.usage.mark()
        result = await work(trace)
        trace.ended(result, state.usage.since(mark))
        return result


def run_tracer(
    hooks: PlannerHooks,
    *,
    agent: str | None,
    model: str,
    how: Literal["run", "resume", "recover"],
) -> TraceRun:
    """What opens the span of a run of a planner named ``agent`` asking ``model``."""

    def open_span(state: RunState) -> AbstractContextManager[RunTrace]:
        memory = state.extensions.get("memory")
        key = memory.get("key") if isinstance(memory, Mapping) else None
        session = key.get("session_id") if isinstance(key, Mapping) else None
        start = RunStart(
            agent=agent,
            model=model,
            run_id=state.run_id,
            tenant_id=state.tenant_id,
            conversation_id=session if isinstance(session, str) and session else None,
            query=state.query,
            carrier=stored_carrier(state.extensions),
            how=how,
        )
        return hooks.run(start)

    return open_span
