"""``ShortTermMemory``: one conversation's memory under a token budget."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._state import Change, MemoryState, add_turn, apply_summary, drop_pending, parse_state
from .config import ShortTermMemoryConfig
from .context import MemoryContext
from .errors import (
    MemoryClosedError,
    MemoryConfigError,
    MemoryStoreError,
    SummarizerError,
)
from .events import MemoryEventCallback, MemoryEventType, MemoryHealth, emit_event
from .keys import MemoryKey
from .store import MemoryStore, is_conflict
from .strategies import build_context, condense_turn
from .summariser import SleepFunc, SummarizerClient, summarize_turns
from .tokens import TokenCounter, get_token_counter
from .turns import Turn

__all__ = ["ShortTermMemory"]

_log = logging.getLogger("penguiflow.memory")
_MAX_SUMMARY_ROUNDS = 8


class ShortTermMemory:
    """The memory of one conversation: recent turns, a rolling summary, a token budget.

    Turns are added with :meth:`add_turn` and shown to the LLM with
    :meth:`get_llm_context`. With ``strategy="rolling_summary"`` the turns that leave the
    full zone are summarised in a background task owned by this object; they stay visible
    as *pending* until the summary lands. :meth:`flush` waits for that task and
    :meth:`aclose` (or ``async with``) ends it, so no task outlives the memory.

    With a ``store`` and a ``key`` every change is saved with optimistic versioning:
    concurrent writers of the same key merge by turn id and never lose turns, and a new
    ``ShortTermMemory`` on the same store sees the same memory (after a restart too).

    Args:
        config: the memory settings.
        key: the conversation's key; ``None`` keeps the memory in this object only.
        store: where to persist the state (``None``: not persisted).
        summarizer: LLM client for summaries; overrides ``config.summarizer_llm`` (the
            planner passes its own client here when the config has none).
        model: model name used to pick the tokenizer when
            ``config.tokenizer_model`` is not set.
        event_callback: receives :class:`~penguiflow.memory.MemoryEvent` (sync or async).
        token_counter: a counter to use instead of the one picked from the model.
        sleep: the sleep used for retry backoff (tests inject a fast one).
        clock: a monotonic clock in seconds, used for the recovery cool-down.

    Raises:
        MemoryConfigError: ``rolling_summary`` without any summariser client.
    """

    def __init__(
        self,
        config: ShortTermMemoryConfig,
        *,
        key: MemoryKey | None = None,
        store: MemoryStore | None = None,
        summarizer: SummarizerClient | None = None,
        model: str | None = None,
        event_callback: MemoryEventCallback | None = None,
        token_counter: TokenCounter | None = None,
        sleep: SleepFunc | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.key = key
        self._store = store
        self._summarizer: SummarizerClient | None = summarizer or config.summarizer_llm
        if config.strategy == "rolling_summary" and self._summarizer is None:
            raise MemoryConfigError(
                "strategy='rolling_summary' needs an LLM client for summaries: set "
                "ShortTermMemoryConfig(summarizer_llm=...) or pass summarizer=..."
            )
        self._counter = token_counter or get_token_counter(config.tokenizer_model or model)
        self._callback = event_callback
        self._sleep: SleepFunc = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self._state = MemoryState()
        self._version = 0
        self._loaded = False
        self._closed = False
        self._lock = asyncio.Lock()
        self._health = MemoryHealth.HEALTHY
        self._degraded_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._summarizing = False

    def __repr__(self) -> str:
        return (
            f"ShortTermMemory(strategy={self.config.strategy!r}, key={self._key_text()!r}, "
            f"turns={len(self._state.recent)}, pending={len(self._state.pending)}, "
            f"health={self._health.value!r})"
        )

    async def __aenter__(self) -> ShortTermMemory:
        await self.load()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Read-only views -------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """``False`` when ``strategy="none"``: every call is then a no-op."""
        return self.config.enabled

    @property
    def health(self) -> MemoryHealth:
        """The summariser's health (always ``healthy`` without a rolling summary)."""
        return self._health

    @property
    def summary(self) -> str:
        """The current rolling summary."""
        return self._state.summary

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The full-zone turns, oldest first."""
        return self._state.recent

    @property
    def pending(self) -> tuple[Turn, ...]:
        """Turns waiting to be summarised, oldest first."""
        return self._state.pending

    @property
    def dropped_turns(self) -> int:
        """How many turns were dropped without a summary so far."""
        return self._state.dropped_turns

    @property
    def version(self) -> int:
        """The stored version this object last read or wrote (0: nothing stored)."""
        return self._version

    @property
    def token_counter(self) -> TokenCounter:
        """The token counter in use."""
        return self._counter

    @property
    def closed(self) -> bool:
        """``True`` after :meth:`aclose`."""
        return self._closed

    # Lifecycle -------------------------------------------------------------------

    def _key_text(self) -> str | None:
        return str(self.key) if self.key is not None else None

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise MemoryClosedError(operation=operation)

    async def _read_store(self) -> None:
        if self._store is None or self.key is None:
            return
        try:
            data, version = await self._store.load_memory(self.key)
        except Exception as exc:
            raise MemoryStoreError(
                operation="load_memory", detail=f"{type(exc).__name__}: {exc}"
            ) from exc
        self._state = parse_state(data, key=str(self.key))
        self._version = version

    async def load(self) -> None:
        """Read the stored state (again) and resume any summary left pending.

        Raises:
            MemoryClosedError: after :meth:`aclose`.
            MemoryStoreError: the store failed.
            MemoryStateError: the stored state cannot be read.
        """
        self._check_open("load")
        if not self.enabled:
            return
        async with self._lock:
            await self._read_store()
            self._loaded = True
            self._maybe_start_summary()
        await self._counter.warm()

    async def _ensure_loaded(self) -> None:
        if not self._loaded:
            await self.load()

    async def flush(self) -> None:
        """Wait until background summarisation has nothing left to do (or gave up)."""
        while self._task is not None and not self._task.done():
            task = self._task
            await asyncio.wait([task])

    async def aclose(self, *, wait: bool = True) -> None:
        """Close the memory; safe to call twice.

        Args:
            wait: finish background summaries first (``True``), or cancel them
                (``False``); cancelled turns stay pending in the store and are
                summarised the next time the memory is loaded.
        """
        if self._closed:
            return
        if wait:
            await self.flush()
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    # Turns and context -------------------------------------------------------------

    def _to_pending(self) -> bool:
        if self.config.strategy != "rolling_summary":
            return False
        if self._health is not MemoryHealth.DEGRADED:
            return True
        return self._cooldown_over()

    def _cooldown_over(self) -> bool:
        started = self._degraded_at if self._degraded_at is not None else self._clock()
        return self._clock() - started >= self.config.recovery_cooldown_s

    async def add_turn(self, turn: Turn) -> Turn:
        """Record a finished turn (saved to the store when there is one).

        A turn bigger than ``total_max_tokens`` on its own is condensed first. Turns
        leaving the full zone are dropped (``truncation``) or queued for the background
        summary (``rolling_summary``).

        Args:
            turn: the turn.

        Returns:
            The turn as stored (condensed when it was too big).

        Raises:
            MemoryClosedError: after :meth:`aclose`.
            MemoryStoreError: the store failed or kept conflicting.
        """
        self._check_open("add_turn")
        if not self.enabled:
            return turn
        await self._ensure_loaded()
        stored = condense_turn(turn, self.config.budget.total_max_tokens, self._counter)
        if stored is None:
            stored = turn.model_copy(
                update={"user": "", "assistant": "", "tool_calls": (), "condensed": True}
            )
        budget = self.config.budget
        async with self._lock:
            change = add_turn(
                stored,
                full_zone_turns=budget.full_zone_turns,
                to_pending=self._to_pending(),
                max_pending=self.config.max_pending_turns,
            )
            await self._commit(change)
            self._maybe_start_summary()
        return stored

    async def get_llm_context(self, *, max_tokens: int | None = None) -> MemoryContext:
        """Build the read-only memory block for the next LLM request.

        Args:
            max_tokens: a tighter limit than ``budget.total_max_tokens`` for this block
                only (the planner passes the room left in the model's window); ``None``
                uses the budget, ``<= 0`` gives an empty block.

        Returns:
            The context (empty when memory is off or has nothing yet); its ``tokens`` are
            within ``total_max_tokens`` and ``max_tokens``.

        Raises:
            MemoryClosedError: after :meth:`aclose`.
            MemoryBudgetError: ``overflow_policy="error"`` and the block is over budget.
        """
        self._check_open("get_llm_context")
        if not self.enabled:
            return MemoryContext(text="", tokens=0)
        await self._ensure_loaded()
        state = self._state
        budget = self.config.budget
        if max_tokens is not None and max_tokens < budget.total_max_tokens:
            if max_tokens <= 0:
                omitted = len(state.pending) + len(state.recent)
                return MemoryContext(
                    text="", tokens=0, omitted_turns=omitted, health=self._health.value
                )
            budget = budget.model_copy(
                update={
                    "total_max_tokens": max_tokens,
                    "summary_max_tokens": min(budget.summary_max_tokens, max_tokens),
                }
            )
        return build_context(
            summary=state.summary,
            pending=state.pending,
            recent=state.recent,
            budget=budget,
            counter=self._counter,
            health=self._health.value,
        )

    # Persistence -------------------------------------------------------------------

    async def _commit(self, change: Change) -> bool:
        """Apply ``change`` and save it, reloading and re-applying on conflicts.

        Must be called with ``self._lock`` held. Returns ``False`` if the change no
        longer applies.
        """
        retries = self.config.max_conflict_retries
        for attempt in range(retries + 1):
            new_state = change(self._state)
            if new_state is None:
                return False
            if self._store is None or self.key is None:
                self._state = new_state
                return True
            try:
                self._version = await self._store.save_memory(
                    self.key, new_state.model_dump(mode="json"), expected_version=self._version
                )
            except Exception as exc:
                if not is_conflict(exc):
                    raise MemoryStoreError(
                        operation="save_memory", detail=f"{type(exc).__name__}: {exc}"
                    ) from exc
                if attempt < retries:
                    await self._sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
                await self._read_store()
                continue
            self._state = new_state
            return True
        raise MemoryStoreError(
            operation="save_memory",
            detail=f"still conflicting with other writers after {retries} retries",
        )

    # Background summaries ----------------------------------------------------------

    async def _emit(self, event_type: MemoryEventType, **details: Any) -> None:
        await emit_event(
            self._callback, event_type, key=self._key_text(), health=self._health, **details
        )

    async def _set_health(self, health: MemoryHealth, reason: str) -> None:
        if health is self._health:
            return
        previous = self._health
        self._health = health
        self._degraded_at = self._clock() if health is MemoryHealth.DEGRADED else None
        await self._emit("memory_health_changed", previous=previous.value, reason=reason)

    def _maybe_start_summary(self) -> None:
        """Start the background task if turns are pending; call with the lock held."""
        if self._summarizing or self._closed or not self._state.pending:
            return
        if self.config.strategy != "rolling_summary":
            return
        if self._health is MemoryHealth.DEGRADED and not self._cooldown_over():
            return
        self._summarizing = True
        self._task = asyncio.create_task(self._summaries(), name="penguiflow-memory-summary")

    async def _next_batch(self) -> tuple[int, str, tuple[Turn, ...]] | None:
        async with self._lock:
            if not self._state.pending or self._closed:
                self._summarizing = False
                return None
            return self._state.summary_rev, self._state.summary, self._state.pending

    async def _summaries(self) -> None:
        try:
            for _ in range(_MAX_SUMMARY_ROUNDS):
                batch = await self._next_batch()
                if batch is None:
                    return
                if not await self._summarize_once(*batch):
                    return
        except Exception:  # a bug here must not kill the event loop's other work
            _log.exception("memory summary task failed")
        finally:
            self._summarizing = False

    async def _summarize_once(self, rev: int, previous: str, turns: tuple[Turn, ...]) -> bool:
        """Summarise one batch; returns ``False`` when the task should stop."""
        if self._health is MemoryHealth.DEGRADED:
            await self._set_health(MemoryHealth.RECOVERING, "cool-down over, trying again")
        limit = self.config.budget.summary_max_tokens
        ids = [t.id for t in turns]
        await self._emit("memory_summary_started", turns=len(turns), attempt=1)
        try:
            if limit == 0 or self._summarizer is None:
                text = ""
            else:
                text = await summarize_turns(
                    self._summarizer,
                    previous=previous,
                    turns=turns,
                    max_tokens=limit,
                    attempts=self.config.summary_retry_attempts,
                    backoff_base=self.config.summary_retry_backoff_base,
                    max_backoff=self.config.summary_retry_max_backoff,
                    timeout_s=self.config.summary_timeout_s,
                    prompt=self.config.summary_prompt,
                    sleep=self._sleep,
                    on_retry=self._on_retry,
                )
            await self._counter.warm()
            text = self._counter.truncate(text, limit)
            async with self._lock:
                applied = await self._commit(
                    apply_summary(base_rev=rev, turn_ids=ids, summary=text)
                )
        except SummarizerError as exc:
            await self._emit(
                "memory_summary_failed",
                turns=len(turns),
                attempts=exc.attempts,
                error=exc.detail,
                retrying=False,
            )
            async with self._lock:
                await self._commit(drop_pending(ids))
            await self._set_health(MemoryHealth.DEGRADED, "summariser failed; truncating")
            return False
        except MemoryStoreError as exc:
            await self._emit(
                "memory_summary_failed",
                turns=len(turns),
                attempts=1,
                error=exc.detail,
                retrying=False,
            )
            return False
        await self._emit(
            "memory_summary_finished",
            turns=len(turns),
            applied=applied,
            summary_tokens=self._counter.count(self._state.summary),
        )
        await self._set_health(MemoryHealth.HEALTHY, "summary written")
        return True

    async def _on_retry(self, attempt: int, error: str) -> None:
        await self._emit("memory_summary_failed", attempt=attempt, error=error, retrying=True)
