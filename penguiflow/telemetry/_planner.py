"""The planner's telemetry: run (``invoke_agent``), tool, pause and resume spans.

Installed as ``penguiflow.planner._hooks.PLANNER_HOOKS.planner`` (or given to one
planner as ``ReactPlanner(telemetry=...)``).

A run started here is a child of the current span. A run restored from the store
(resumed, recovered) is a child of the context stored with it, so a pause resumed in
another process continues the trace it paused in; the span current where the resume was
called (an HTTP request's, say) is then linked.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, Span
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel

from ..planner._hooks import RunStart
from ..planner.llm_types import LLMResponse
from ..planner.pause import PendingCall, PlannerPause
from ..planner.run_state import PlannerFinish
from . import _names as n
from ._chat import provider_of, traced_chat
from ._runtime import PROPAGATOR
from ._signals import Signals, error_type_of

__all__ = ["PlannerSpans"]


class _ToolSpan:
    __slots__ = ("error", "signals", "span")

    def __init__(self, signals: Signals, span: Span) -> None:
        self.signals = signals
        self.span = span
        self.error: str | None = None

    def ended(
        self, *, trace_id: str, ok: bool, code: str | None, result: Any, attempts: int
    ) -> None:
        attributes: dict[str, AttributeValue] = {
            n.TOOL_RETRIES: max(attempts - 1, 0),
            n.TOOL_OUTCOME: "ok" if ok else code or "error",
        }
        if trace_id:
            attributes[n.TOOL_CALL_ID] = trace_id
        if ok and self.signals.content is not None:
            attributes[n.TOOL_RESULT] = self.signals.json(result)
        self.span.set_attributes(attributes)
        if not ok and code != "paused":
            self.error = code or n.OTHER
            self.signals.fail(self.span, self.error)


class _PauseSpan:
    __slots__ = ("signals", "span")

    def __init__(self, signals: Signals, span: Span) -> None:
        self.signals = signals
        self.span = span

    def committed(self, pause_id: str) -> None:
        self.span.set_attribute(n.PAUSE_ID, pause_id)
        self.signals.pending_pauses.add(1)


class _RunTrace:
    """One run's trace in this process (``penguiflow.planner._hooks.RunTrace``)."""

    __slots__ = ("outcome", "signals", "span", "start")

    def __init__(self, signals: Signals, start: RunStart, span: Span) -> None:
        self.signals = signals
        self.start = start
        self.span = span
        self.outcome: str | None = None

    def carrier(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
        return carrier

    def chat(
        self,
        request: Awaitable[str | LLMResponse],
        *,
        model: str,
        messages: list[dict[str, Any]],
    ) -> Awaitable[str | LLMResponse]:
        return traced_chat(self.signals, request, model=model, messages=messages)

    @contextlib.contextmanager
    def tool(self, name: str, *, side_effects: str, args: BaseModel) -> Iterator[_ToolSpan]:
        signals = self.signals
        attributes: dict[str, AttributeValue] = {
            n.OPERATION: n.EXECUTE_TOOL,
            n.TOOL_NAME: name,
            n.TOOL_TYPE: "function",
            n.TOOL_SIDE_EFFECTS: side_effects,
        }
        if signals.content is not None:
            attributes[n.TOOL_ARGUMENTS] = signals.json(args.model_dump(mode="json"))
        started = time.perf_counter()
        handle: _ToolSpan | None = None
        error: str | None = None
        try:
            with signals.span(f"execute_tool {name}", attributes=attributes) as span:
                handle = _ToolSpan(signals, span)
                yield handle
        except BaseException as exc:
            error = error_type_of(exc)
            raise
        finally:
            labels: dict[str, AttributeValue] = {n.TOOL_NAME: name}
            error = error or (handle.error if handle is not None else None)
            if error is not None:
                labels[n.ERROR_TYPE] = error
                signals.tool_errors.add(1, labels)
            signals.tool_duration.record(time.perf_counter() - started, labels)

    @contextlib.contextmanager
    def pause(self, reason: str, calls: Sequence[PendingCall]) -> Iterator[_PauseSpan]:
        attributes: dict[str, AttributeValue] = {
            n.PAUSE_REASON: reason,
            n.PAUSE_CALLS: [f"{call.call_id}:{call.tool}:{call.kind}" for call in calls],
        }
        with self.signals.span("pause", attributes=attributes) as span:
            yield _PauseSpan(self.signals, span)

    @contextlib.contextmanager
    def resume(
        self, pause_id: str, *, reclaimed: bool, decisions: Mapping[str, str]
    ) -> Iterator[None]:
        attributes: dict[str, AttributeValue] = {
            n.PAUSE_ID: pause_id,
            n.RESUME_RECLAIMED: reclaimed,
            n.RESUME_DECISIONS: [f"{cid}:{what}" for cid, what in decisions.items()],
        }
        with self.signals.span("resume", attributes=attributes):
            yield
        self.signals.pending_pauses.add(-1)  # the pause is resolved (or replaced)

    def ended(self, result: PlannerFinish | PlannerPause, usage: Mapping[str, Any]) -> None:
        span = self.span
        self.outcome = "paused" if isinstance(result, PlannerPause) else result.reason
        span.set_attribute(n.RUN_OUTCOME, self.outcome)
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):
            span.set_attribute(n.INPUT_TOKENS, int(usage.get("prompt_tokens", 0)))
            span.set_attribute(n.OUTPUT_TOKENS, int(usage.get("completion_tokens", 0)))
        if usage.get("cost_usd"):
            span.set_attribute(n.COST, float(usage["cost_usd"]))
        content = self.signals.content
        if content is not None and isinstance(result, PlannerFinish) and result.payload:
            answer = {"type": "text", "content": result.payload.raw_answer}
            message = {"role": "assistant", "parts": [answer], "finish_reason": result.reason}
            span.set_attribute(n.OUTPUT_MESSAGES, self.signals.json([message]))


class PlannerSpans:
    """Implements the planner's hooks (``penguiflow.planner._hooks.PlannerHooks``).

    Args:
        signals: the tracer and instruments.
    """

    def __init__(self, signals: Signals) -> None:
        self._signals = signals

    @contextlib.contextmanager
    def run(self, start: RunStart) -> Iterator[_RunTrace]:
        """The ``invoke_agent`` span of a run while this process works on it."""
        signals = self._signals
        parent, links = _parent_of(start)
        name = f"{n.INVOKE_AGENT} {start.agent}" if start.agent else n.INVOKE_AGENT
        attributes = _run_attributes(start)
        if signals.content is not None:
            query = {"role": "user", "parts": [{"type": "text", "content": start.query}]}
            attributes[n.INPUT_MESSAGES] = signals.json([query])
        started = time.perf_counter()
        outcome = "error"
        try:
            with signals.span(name, attributes=attributes, parent=parent, links=links) as span:
                run = _RunTrace(signals, start, span)
                yield run
                outcome = run.outcome or outcome
        except BaseException as exc:
            outcome = "cancelled" if error_type_of(exc) == "cancelled" else "error"
            raise
        finally:
            labels: dict[str, AttributeValue] = {n.RUN_OUTCOME: outcome}
            if start.agent:
                labels[n.AGENT_NAME] = start.agent
            signals.run_duration.record(time.perf_counter() - started, labels)


def _run_attributes(start: RunStart) -> dict[str, AttributeValue]:
    provider, model = provider_of(start.model)
    attributes: dict[str, AttributeValue] = {
        n.OPERATION: n.INVOKE_AGENT,
        n.PROVIDER: provider,
        n.REQUEST_MODEL: model,
        n.RUN_ID: start.run_id,
        n.TENANT: start.tenant_id,
        n.RUN_HOW: start.how,
    }
    if start.agent:
        attributes[n.AGENT_NAME] = start.agent
    if start.conversation_id:
        attributes[n.CONVERSATION_ID] = start.conversation_id
    return attributes


def _parent_of(start: RunStart) -> tuple[Any, list[Link]]:
    """The parent context of a run's span, and the spans it links to."""
    current = trace.get_current_span().get_span_context()
    stored = None
    if start.carrier:
        found = trace.get_current_span(PROPAGATOR.extract(start.carrier)).get_span_context()
        stored = found if found.is_valid else None
    if start.how == "run" or stored is None:
        links = [] if stored is None or stored.trace_id == current.trace_id else [Link(stored)]
        return None, links
    parent = PROPAGATOR.extract(start.carrier or {})
    return parent, [Link(current)] if current.is_valid else []
