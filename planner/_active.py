"""A run being advanced in this process, and how a step can end it.

:class:`ActiveRun` is the run's serialisable :class:`RunState` plus what cannot be
stored: the transcript, the tool view, the event callback, the deadline and the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._approval import PendingStep
from ._context import Transcript
from ._executor import CallInfo
from .events import EventCallback, emit_event, make_event
from .run_state import RunState

if TYPE_CHECKING:
    from ._views import ToolView

__all__ = ["ActiveRun", "ArgFailureLimit", "BudgetHit", "StepResult"]


@dataclass(slots=True)
class ActiveRun:
    """A run being advanced in this process: the state plus what cannot be serialised."""

    state: RunState
    transcript: Transcript
    info: CallInfo
    limiter: asyncio.Semaphore
    callback: EventCallback | None
    deadline: float | None  # time.monotonic() deadline
    started: float  # time.monotonic() when this process took the run
    elapsed_before: float  # elapsed_s recorded before this process took the run
    view: ToolView  # the tools the run may see, and the parts built for them
    stored_version: int = 0  # the run's version in the state store (0: not stored)
    native: bool = False  # whether the latest request used native tool calls
    usage_mark: tuple[int, int, int, int, float] = (0, 0, 0, 0, 0.0)  # run usage at step start
    clock: Callable[[], float] = time.monotonic  # the planner's time_source
    gate_deadline: float | None = None  # the deadline on ``clock``, checked before each step
    hop_budget: int | None = None
    stopped: dict[str, Any] | None = None  # a guardrail's STOP, ends the run (no_path)
    notes: list[dict[str, Any]] = field(default_factory=list)  # told to the model next request

    @property
    def step(self) -> int:
        """The current step number."""
        return self.state.budgets.iterations

    def step_usage(self) -> dict[str, Any]:
        """What the LLM calls of the current step cost so far."""
        return self.state.usage.since(self.usage_mark)

    async def close_step(self, first: int, kind: str, usage: dict[str, Any] | None = None) -> None:
        """End the current step: its usage goes to the step it recorded and an event.

        Args:
            first: how many trajectory steps existed when the step began.
            kind: what the step did (``tool``, ``parallel``, ``final``...).
            usage: the step's usage when it was measured earlier (before a pause).
        """
        usage = self.attach_usage(first, usage)
        if self.callback is not None:
            await self.event("step_complete", extra={"kind": kind, "usage": usage})

    def attach_usage(self, first: int, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        """Give the step recorded at ``first`` (if any) its usage; return the usage."""
        state = self.state
        if usage is None:
            usage = state.usage.since(self.usage_mark)
        steps = state.steps
        if len(steps) > first:
            steps[first].usage = usage
        return usage

    async def event(self, event_type: str, **fields: Any) -> None:
        """Report a planner event for this run (no-op without a callback)."""
        if self.callback is not None:
            state = self.state
            event = make_event(
                event_type, step=self.step, run_id=state.run_id, tenant_id=state.tenant_id, **fields
            )
            await emit_event(self.callback, event)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def sync_elapsed(self) -> None:
        """Record the time spent so far in ``state.budgets.elapsed_s``."""
        self.state.budgets.elapsed_s = self.elapsed_before + (time.monotonic() - self.started)

    def deadline_passed(self) -> bool:
        """Whether the run's deadline has passed on the planner's clock."""
        return self.gate_deadline is not None and self.gate_deadline <= self.clock()

    def constraints(self, budget: str | None = None) -> dict[str, Any]:
        """The run's deadline and hop budget, as ``PlannerFinish.metadata["constraints"]``.

        Args:
            budget: the budget that ended the run, if one did.
        """
        hops = self.state.budgets.hops
        remaining = None
        if self.gate_deadline is not None:
            remaining = max(self.gate_deadline - self.clock(), 0.0)
        return {
            "deadline_at": self.gate_deadline,
            "deadline_remaining_s": remaining,
            "hop_budget": self.hop_budget,
            "hops_used": hops,
            "deadline_triggered": budget == "deadline_s",
            "hop_exhausted": self.hop_budget is not None and hops >= self.hop_budget,
        }


@dataclass(frozen=True, slots=True)
class BudgetHit:
    """A budget ran out while acting; the planner turns it into ``budget_exhausted``."""

    budget: str
    detail: str


@dataclass(frozen=True, slots=True)
class ArgFailureLimit:
    """The same tool failed argument validation too many times in a row."""

    tool: str
    count: int
    error: str


StepResult = BudgetHit | ArgFailureLimit | PendingStep | None
