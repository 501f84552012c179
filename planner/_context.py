"""Assembles each LLM request of a run under ``token_budget``, compacting whole steps.

Rendered messages are cached per run, and so are their token counts: the system prompt
is counted once per planner, the query once per run, each step once when it is added.
A request therefore costs only the rendering and counting of what is new.

A step is rendered in the run's :class:`Dialect`: JSON actions (the action as an
assistant message, the observation as a user message) or native tool calls (the
assistant's calls, then one tool message per call). A step is never split: compaction
folds whole steps, so a tool call always travels with its result.

A request's total is exactly ``counter.count_messages(messages)`` plus the tokens of
its ``response_format``. The planner counts only when a limit applies (``counter=None``
turns counting off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .prompts import digest_step, step_messages, summary_message
from .run_state import RunState, TrajectoryStep
from .tokens import REPLY_PRIMING, TokenCounter

__all__ = ["JSON_DIALECT", "Dialect", "Transcript"]


class Dialect:
    """How the requests of a run are written: the system prompt and how steps render.

    Args:
        native: ``True`` for native tool calls, ``False`` for JSON actions.
        system_prompt: the system prompt of this dialect.
        render: renders one step as chat messages.
    """

    __slots__ = ("_tokens", "native", "render", "system")

    def __init__(
        self,
        *,
        native: bool,
        system_prompt: str,
        render: Callable[[TrajectoryStep], list[dict[str, Any]]],
    ) -> None:
        self.native = native
        self.system: dict[str, Any] = {"role": "system", "content": system_prompt}
        self.render = render
        self._tokens: dict[int, int] = {}

    def system_tokens(self, counter: TokenCounter) -> int:
        """Tokens of the system message (counted once per counter)."""
        key = id(counter)
        tokens = self._tokens.get(key)
        if tokens is None:
            tokens = self._tokens[key] = counter.count_message(self.system)
        return tokens


JSON_DIALECT = Dialect(native=False, system_prompt="", render=step_messages)
"""JSON actions with an empty system prompt (for transcripts built by hand)."""


@dataclass(slots=True)
class Transcript:
    """The messages of one run, with cached token counts.

    Attributes:
        counter: the token counter of the planner's model, or ``None`` not to count.
        head: the fixed leading messages (system prompt, memory block, query).
        head_tokens: their token count (0 when not counting).
    """

    counter: TokenCounter | None
    head: list[dict[str, Any]]
    head_tokens: int
    dialect: Dialect = JSON_DIALECT
    _messages: list[dict[str, Any]] = field(default_factory=list)  # steps[compacted:]
    _tokens: list[int] = field(default_factory=list)  # per step in _messages
    _sizes: list[int] = field(default_factory=list)  # messages per step in _messages
    _first: int = 0  # index of the first step held in _messages
    _summary: tuple[str, dict[str, Any], int] | None = None

    def use(self, dialect: Dialect) -> None:
        """Write the next requests in ``dialect`` (steps already rendered are redone)."""
        if dialect is self.dialect:
            return
        if self.counter is not None:
            self.head_tokens += dialect.system_tokens(self.counter)
            self.head_tokens -= self.dialect.system_tokens(self.counter)
        self.head[0] = dialect.system
        self.dialect = dialect
        self._messages.clear()
        self._tokens.clear()
        self._sizes.clear()

    def replace_query(self, message: dict[str, Any]) -> None:
        """Replace the query message (the last of the head), e.g. once it was redacted."""
        if self.counter is not None:
            self.head_tokens += self.counter.count_message(message)
            self.head_tokens -= self.counter.count_message(self.head[-1])
        self.head[-1] = message

    def _sync(self, state: RunState) -> None:
        """Drop folded steps and render the steps added since the last request."""
        while self._first < state.compacted and self._tokens:
            del self._messages[: self._sizes.pop(0)]
            self._tokens.pop(0)
            self._first += 1
        self._first = max(self._first, state.compacted)
        render = self.dialect.render
        for step in state.steps[self._first + len(self._tokens) :]:
            messages = render(step)
            self._messages.extend(messages)
            self._sizes.append(len(messages))
            if self.counter is None:
                self._tokens.append(0)
            else:
                self._tokens.append(sum(self.counter.count_message(m) for m in messages))

    def _summary_block(self, state: RunState) -> tuple[dict[str, Any] | None, int]:
        if not state.summary:
            return None, 0
        if self._summary is None or self._summary[0] != state.summary:
            message = summary_message(state.summary)
            tokens = self.counter.count_message(message) if self.counter else 0
            self._summary = (state.summary, message, tokens)
        return self._summary[1], self._summary[2]

    @staticmethod
    def _fold_oldest(state: RunState) -> None:
        """Fold the oldest uncompacted step into ``state.summary`` (whole step only)."""
        line = digest_step(state.steps[state.compacted])
        state.summary = f"{state.summary}\n{line}" if state.summary else line
        state.compacted += 1
        state.budgets.compactions += 1

    def build(
        self,
        state: RunState,
        *,
        token_budget: int | None,
        extra: list[dict[str, Any]] | None = None,
        fixed_tokens: int = 0,
    ) -> tuple[list[dict[str, Any]], int] | None:
        """Return ``(messages, tokens)`` for the next request, or ``None`` if it cannot fit.

        When the request would exceed ``token_budget``, the oldest steps are folded into
        ``state.summary`` one whole step at a time (recorded in ``state.compacted`` and
        ``state.budgets.compactions``).

        Args:
            state: the run.
            token_budget: the most tokens a request may hold, or ``None``.
            extra: transient messages appended after the trajectory (repair requests).
            fixed_tokens: tokens sent besides the messages (the ``response_format``).
        """
        extra = extra or []
        counter = self.counter
        extra_tokens = sum(counter.count_message(m) for m in extra) if counter else 0
        base = REPLY_PRIMING + self.head_tokens + extra_tokens + fixed_tokens if counter else 0
        while True:
            self._sync(state)
            summary, summary_tokens = self._summary_block(state)
            total = base + summary_tokens + sum(self._tokens) if counter else 0
            if token_budget is None or counter is None or total <= token_budget:
                break
            if state.compacted >= len(state.steps):
                return None
            self._fold_oldest(state)
        messages = list(self.head)
        if summary is not None:
            messages.append(summary)
        messages.extend(self._messages)
        messages.extend(extra)
        return messages, total
