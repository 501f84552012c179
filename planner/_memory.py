"""Short-term memory for the planner: which memory a run uses, its block, its turn.

The planner keeps one :class:`PlannerMemory`. For each run it:

1. **attaches** the run to a memory key (``run(memory_key=...)``, or derived from
   ``tool_context``) by writing ``RunState.extensions["memory"] = {"key": {...}}``; no
   key means no memory for that run (fail closed);
2. **opens** the key's memory when the run (or a resumed run) starts working, and
   builds the read-only memory block that goes into every request as its own system
   message, within the room the token accountant gives it;
3. **records** the finished run as one :class:`~penguiflow.memory.Turn` (query, tool
   calls with digested results, answer) when the run finishes; a paused run records
   nothing until the run that resumes it finishes. The recorded turn's id is written to
   ``extensions["memory"]["turn_id"]`` so a turn is never recorded twice.

Memory trouble never fails a run: a store that cannot be read or written is logged,
reported in ``PlannerFinish.metadata["memory"]["error"]``, and the run goes on without
memory. ``overflow_policy="error"`` is the one exception: its ``MemoryBudgetError`` is
raised, as that policy asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..memory import MemoryKey, MemoryStore, ShortTermMemoryConfig, ShortTermMemoryPool
from ..memory.errors import MemoryBudgetError, MemoryRunError
from ..memory.events import MemoryEvent, MemoryEventCallback
from ..memory.keys import resolve_memory_key
from ..memory.summariser import SummarizerClient
from ..memory.tokens import TokenCounter
from ..memory.turns import ToolCallRecord, Turn, digest_result
from ..sessions import DEFAULT_TENANT, SessionStore
from .events import EventCallback, PlannerEvent, emit_event
from .run_state import PlannerFinish, RunState, TrajectoryStep

__all__ = ["EXTENSION", "PlannerMemory", "RunMemory", "turn_from_run"]

EXTENSION = "memory"
"""The ``RunState.extensions`` entry holding a run's memory key and recorded turn id."""

_log = logging.getLogger("penguiflow.planner")
_MAX_FITS = 3


@dataclass(slots=True)
class RunMemory:
    """The memory of one run in this process.

    Attributes:
        key: the run's memory key.
        message: the memory block as a system message, or ``None`` when empty.
        tokens: tokens of ``message`` counted by the planner's counter (0 when empty).
        info: what ``PlannerFinish.metadata["memory"]`` reports.
    """

    key: MemoryKey
    message: dict[str, Any] | None = None
    tokens: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def _tool_calls(steps: list[TrajectoryStep]) -> tuple[ToolCallRecord, ...]:
    """The tool calls that ran, with digested results (refused actions are skipped)."""
    records: list[ToolCallRecord] = []
    for step in steps:
        if step.kind not in ("tool", "parallel"):
            continue
        name = str(step.action.get("next_node") or "")
        args = step.action.get("args")
        records.append(
            ToolCallRecord(
                name=name,
                args=dict(args) if isinstance(args, Mapping) else {},
                result="" if step.observation is None else digest_result(step.observation),
                error=step.error,
            )
        )
    return tuple(records)


def turn_from_run(state: RunState, finish: PlannerFinish) -> Turn:
    """Build the memory turn of a finished run.

    Args:
        state: the run's state (query and trajectory).
        finish: how it finished (the answer; partial answers are kept as they are).

    Returns:
        The turn; ``meta`` holds ``run_id`` and the finish ``reason``.
    """
    answer = finish.payload.raw_answer if finish.payload is not None else ""
    return Turn(
        user=state.query,
        assistant=answer,
        tool_calls=_tool_calls(state.steps),
        meta={"run_id": state.run_id, "reason": finish.reason},
    )


def _stored_key(state: RunState) -> MemoryKey | None:
    record = state.extensions.get(EXTENSION)
    if not isinstance(record, Mapping) or not isinstance(record.get("key"), Mapping):
        return None
    key = record["key"]
    return MemoryKey(
        tenant_id=key["tenant_id"], user_id=key["user_id"], session_id=key["session_id"]
    )


class PlannerMemory:
    """Connects a planner to short-term memory (a no-op when memory is off).

    Args:
        config: ``ReactPlanner(short_term_memory=...)``; ``None`` for no memory.
        store: ``ReactPlanner(state_store=...)`` when it implements the memory store
            protocol (``SqlSessionStore`` does); ``None`` keeps memory in the process.
        summarizer: the planner's LLM client (used when the config names none).
        model: the planner's model name (picks the tokenizer).
        callback: the planner's event callback; memory events are forwarded to it as
            ``PlannerEvent``s whose ``run_id`` is the latest run that recorded a turn in
            that memory (summaries run in the background, after that run returned).

    Raises:
        ConfigError: ``config`` is not a ``ShortTermMemoryConfig``, or ``store`` lacks
            ``load_memory``/``save_memory``.
    """

    def __init__(
        self,
        config: ShortTermMemoryConfig | None,
        *,
        store: SessionStore | MemoryStore | None,
        summarizer: SummarizerClient,
        model: str | None,
        callback: EventCallback | None,
    ) -> None:
        if config is not None and not isinstance(config, ShortTermMemoryConfig):
            raise ConfigError(
                "ReactPlanner(short_term_memory=...) must be a ShortTermMemoryConfig or None, "
                f"got {type(config).__name__}"
            )
        self.config = config
        self._callback = callback
        self._last_run: dict[str, tuple[str, str]] = {}
        self._pool: ShortTermMemoryPool | None = None
        if config is None or not config.enabled:
            return
        if store is not None and not isinstance(store, MemoryStore):
            raise ConfigError(
                "ReactPlanner(state_store=...) must implement load_memory() and "
                f"save_memory() to hold short-term memory (SqlSessionStore does); "
                f"{type(store).__name__} does not"
            )
        self._pool = ShortTermMemoryPool(
            config,
            store=store,
            summarizer=config.summarizer_llm or summarizer,  # the config's client wins
            model=model,
            event_callback=self._forwarder(),
        )

    @property
    def enabled(self) -> bool:
        """``True`` when the planner has memory (a config whose strategy is not ``none``)."""
        return self._pool is not None

    @property
    def pool(self) -> ShortTermMemoryPool | None:
        """The pool of open memories (``None`` when memory is off)."""
        return self._pool

    def _forwarder(self) -> MemoryEventCallback | None:
        callback = self._callback
        if callback is None:
            return None

        async def forward(event: MemoryEvent) -> None:
            extra = {"key": event.key, "health": event.health.value, **dict(event.details)}
            run_id, tenant_id = self._last_run.get(event.key or "", ("", DEFAULT_TENANT))
            planner_event = PlannerEvent(
                event_type=event.event_type,
                ts=event.ts,
                step=0,
                run_id=run_id,
                extra=extra,
                tenant_id=tenant_id,
            )
            await emit_event(callback, planner_event)

        return forward

    # -- 1. attach ----------------------------------------------------------------------

    def attach(
        self,
        fields: dict[str, Any],
        *,
        memory_key: MemoryKey | Mapping[str, Any] | None,
        tool_context: Any,
    ) -> None:
        """Decide a new run's memory key and record it in the run's fields.

        Args:
            fields: the ``RunState`` fields being built (``tenant_id`` may be set); an
                ``extensions`` entry is added when the run has a key.
            memory_key: ``run(memory_key=...)``.
            tool_context: ``run(tool_context=...)`` (keys may be derived from it).

        Raises:
            ConfigError: ``memory_key`` given to a planner without ``short_term_memory``,
                an invalid key, or a key whose tenant differs from ``tenant_id``.
        """
        if self.config is None:
            if memory_key is not None:
                raise ConfigError(
                    "planner.run(memory_key=...) needs a planner built with "
                    "ReactPlanner(short_term_memory=ShortTermMemoryConfig(...))"
                )
            return
        if not self.config.enabled:
            return
        key = resolve_memory_key(
            memory_key=memory_key, tool_context=tool_context, isolation=self.config.isolation
        )
        if key is None:
            return
        tenant = fields.get("tenant_id")
        if tenant is None:
            fields["tenant_id"] = key.tenant_id
        elif tenant != key.tenant_id:
            raise ConfigError(
                f"planner.run(tenant_id={tenant!r}) differs from the memory key's tenant "
                f"{key.tenant_id!r}; a run may only use its own tenant's memory"
            )
        extensions = dict(fields.get("extensions") or {})
        extensions[EXTENSION] = {"key": key.model_dump()}
        fields["extensions"] = extensions

    # -- 2. open ------------------------------------------------------------------------

    async def open(
        self, state: RunState, *, room: int | None, counter: TokenCounter
    ) -> RunMemory | None:
        """Load the run's memory and build its block (``None``: no memory for this run).

        Args:
            state: the run (its ``extensions`` say which key).
            room: the most tokens the memory message may take (``None``: no limit
                besides the memory budget).
            counter: the planner's token counter.

        Raises:
            MemoryBudgetError: ``overflow_policy="error"`` and the block does not fit.
        """
        pool = self._pool
        if pool is None:
            return None
        key = _stored_key(state)
        if key is None:
            return None
        run = RunMemory(key=key, info={"key": str(key)})
        try:
            memory = await pool.acquire(key)
            limit = None if room is None else room - counter.count_message({"role": "system"})
            message: dict[str, Any] | None = None
            tokens = 0
            for _ in range(_MAX_FITS):
                context = await memory.get_llm_context(max_tokens=limit)
                if context.is_empty:
                    break
                candidate = context.to_message()
                tokens = counter.count_message(candidate)
                if room is None or tokens <= room:
                    message = candidate
                    break
                # memory counts with another encoding (tokenizer_model): shrink and retry
                limit = (limit or 0) - (tokens - room)
        except MemoryBudgetError:
            raise
        except MemoryRunError as exc:
            _log.warning("memory of %s unavailable for run %s: %s", key, state.run_id, exc)
            run.info["error"] = f"{type(exc).__name__}: {exc}"
            return run
        shown = context.turns if message is not None else ()
        run.message, run.tokens = message, tokens if message is not None else 0
        run.info.update(
            tokens=run.tokens,
            turns=len(shown),
            omitted_turns=context.omitted_turns + len(context.turns) - len(shown),
            health=context.health,
        )
        return run

    # -- 3. record ----------------------------------------------------------------------

    async def record(self, run: RunMemory | None, state: RunState, finish: PlannerFinish) -> None:
        """Append the finished run's turn to memory; never raises for memory trouble.

        Sets ``finish.metadata["memory"]`` and ``extensions["memory"]["turn_id"]``.

        Args:
            run: what :meth:`open` returned.
            state: the finished run.
            finish: its result.
        """
        pool = self._pool
        if run is None or pool is None:
            return
        finish.metadata["memory"] = run.info
        record = state.extensions.get(EXTENSION)
        if not isinstance(record, dict) or record.get("turn_id"):
            return
        turn = turn_from_run(state, finish)
        # named by background memory events
        self._last_run[str(run.key)] = (state.run_id, state.tenant_id)
        try:
            memory = await pool.acquire(run.key)
            stored = await memory.add_turn(turn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # memory must not cost the user the answer
            _log.warning(
                "could not record the turn of run %s in %s: %s", state.run_id, run.key, exc
            )
            run.info["error"] = f"{type(exc).__name__}: {exc}"
            run.info["recorded"] = False
            return
        record["turn_id"] = stored.id
        run.info["recorded"] = True
        run.info["condensed"] = stored.condensed

    async def aclose(self) -> None:
        """Wait for background summaries and close every memory."""
        if self._pool is not None:
            await self._pool.aclose()
