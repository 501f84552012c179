"""Taking a run up in this process: its memory block, its transcript, its deadline.

Whether a run is new, resumed or recovered, the planner turns its :class:`RunState` into
an :class:`ActiveRun` here: the memory block is loaded within the room the token
accountant leaves it, the transcript starts with the system prompt of the run's tool
view, and the deadline is set from what is left of ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._active import ActiveRun
from ._context import Transcript
from ._executor import CallInfo
from ._guarding import Guard
from ._memory import PlannerMemory, RunMemory
from ._views import ToolView
from .events import EventCallback
from .prompts import query_message
from .run_state import RunState
from .tokens import TokenAccountant

__all__ = ["RunEntry", "no_sink"]


async def no_sink(event_type: str, **fields: Any) -> None:
    """The event sink of a run nobody observes (or no longer works on)."""
    return None


@dataclass(frozen=True, slots=True)
class RunEntry:
    """What a planner needs to take a run up (immutable; one per planner).

    Attributes:
        tokens: the token accountant.
        memory: the planner's short-term memory.
        model_key: the model the request modes are remembered for.
        deadline_s: the run's wall-time budget.
        clock: the planner's ``time_source``.
        callback: the event callback.
        max_parallel: calls of one step running at once.
        guard: the guardrails, if any.
    """

    tokens: TokenAccountant
    memory: PlannerMemory
    model_key: str
    deadline_s: float | None
    clock: Callable[[], float]
    callback: EventCallback | None
    max_parallel: int
    guard: Guard | None

    async def enter(
        self, state: RunState, tool_context: Any, view: ToolView
    ) -> tuple[ActiveRun, RunMemory | None]:
        """Take ``state`` up in ``view``: the active run and its memory."""
        memory = await self._open_memory(state, view)
        return self._activate(state, tool_context, memory, view), memory

    async def _open_memory(self, state: RunState, view: ToolView) -> RunMemory | None:
        """Load the run's memory block, in the room the token accountant leaves it."""
        tokens = self.tokens
        await tokens.prepare()
        if not self.memory.enabled:
            return None
        room = None
        if tokens.request_counter is not None:
            modes = view.modes
            mode = modes.mode(self.model_key)
            fixed = (
                modes.dialect(mode).system_tokens(tokens.counter)
                + tokens.counter.count_message(query_message(state.query, state.llm_context))
                + modes.cost(mode)
            )
            room = tokens.memory_room(fixed)
        return await self.memory.open(state, room=room, counter=tokens.counter)

    def _activate(
        self, state: RunState, tool_context: Any, memory: RunMemory | None, view: ToolView
    ) -> ActiveRun:
        query = query_message(state.query, state.llm_context)
        dialect = view.modes.dialect(view.modes.mode(self.model_key))
        head = [dialect.system, query]
        counter = self.tokens.request_counter
        head_tokens = 0
        if counter is not None:
            head_tokens = dialect.system_tokens(counter)
            head_tokens += counter.count_message(query)
        if memory is not None and memory.message is not None:
            head.insert(1, memory.message)  # read-only block, apart from the query
            head_tokens += memory.tokens if counter is not None else 0
        transcript = Transcript(counter, head, head_tokens, dialect)
        now = time.monotonic()
        left = None if self.deadline_s is None else self.deadline_s - state.budgets.elapsed_s
        info = CallInfo(
            state.run_id,
            state.tenant_id,
            state.budgets.iterations,
            no_sink,
            tool_context,
            state.llm_context,
        )
        run = ActiveRun(
            state,
            transcript,
            info,
            asyncio.Semaphore(self.max_parallel),
            self.callback,
            None if left is None else now + left,
            now,
            state.budgets.elapsed_s,
            view,
            clock=self.clock,
            gate_deadline=None if left is None else self.clock() + left,
            hop_budget=view.steps.hop_budget,
        )
        info.sink = run.event
        info.observed = self.callback is not None
        if self.guard is not None:
            info.guard = self.guard.results(run)
        return run
