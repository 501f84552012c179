"""``PlannerEvent``: what a planner run reports while it works.

Event types: ``step_start`` (``extra["action_seq"]``), ``llm_request``,
``llm_response``, ``repair_attempt``, ``tool_call_start``, ``tool_call_result``,
``tool_call_error``, ``tool_call_end``, ``step_complete`` (the step's kind and LLM usage),
``stream_chunk``, ``reflection_critique``, ``guardrail_decision``,
``pause`` (the run's state and a pause were committed; never carries the token),
``resume`` (a pause was claimed), ``recover`` (a run whose process died was taken over,
see ``ReactPlanner.recover_stale_runs``) and ``finish``. Other packages may add their own (for
example memory events). ``tool_call_start`` carries the call's validated arguments in
``extra["args"]`` (and ``args_json``, ``tool_name``, ``tool_call_id``) and
``tool_call_result`` its JSON result in ``extra["result"]``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

from ..sessions.models import DEFAULT_TENANT

__all__ = ["EventCallback", "PlannerEvent", "PlannerEventType", "emit_event", "make_event"]

logger = logging.getLogger("penguiflow.planner")

PlannerEventType = str
"""``step_start``, ``llm_request``, ``llm_response``, ``repair_attempt``,
``tool_call_start``, ``tool_call_result``, ``tool_call_error``, ``tool_call_end``,
``step_complete``, ``stream_chunk``, ``reflection_critique``, ``guardrail_decision``,
``pause``, ``resume``, ``recover``, ``finish``."""


@dataclass(frozen=True, slots=True)
class PlannerEvent:
    """One thing that happened in a planner run.

    Attributes:
        event_type: see :data:`PlannerEventType`.
        ts: wall-clock time (``time.time()``).
        step: the step (1-based LLM decision) the event belongs to; 0 before the first.
        run_id: the run that produced the event.
        node_name: the tool involved, if any.
        trace_id: the runtime trace of a tool call, if any.
        thought: the model's thought for the step, if any.
        latency_ms: duration of an LLM request or tool call, when it ended.
        error: a short description of a failure, if any.
        text: streamed text (``stream_chunk``).
        done: ``True`` on the last chunk of a stream.
        extra: other JSON-friendly details (usage, repair stage, finish reason...).
        tenant_id: the tenant of the run (a run is identified by tenant and run id).
    """

    event_type: PlannerEventType
    ts: float
    step: int
    run_id: str
    node_name: str | None = None
    trace_id: str | None = None
    thought: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    text: str | None = None
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    tenant_id: str = DEFAULT_TENANT

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-friendly dict."""
        return asdict(self)

    @property
    def trajectory_step(self) -> int:
        """The step the event belongs to (the documented name of :attr:`step`)."""
        return self.step

    @property
    def token_estimate(self) -> int | None:
        """Tokens counted for an ``llm_request`` (``extra["tokens"]``), else ``None``."""
        tokens = self.extra.get("tokens")
        return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None

    def to_payload(self) -> dict[str, Any]:
        """Return a flat dict for structured logging: ``event``, ``ts``, ``step``, details.

        The fields that are set (``run_id``, ``node_name``, ``thought``, ``latency_ms``,
        ``error``, ``text``...) come next, then the ``extra`` details at the top level.
        """
        payload: dict[str, Any] = {"event": self.event_type, "ts": self.ts, "step": self.step}
        payload["run_id"] = self.run_id
        for name in ("node_name", "trace_id", "thought", "latency_ms", "error", "text"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        if self.done:
            payload["done"] = True
        tokens = self.token_estimate
        if tokens is not None:
            payload["token_estimate"] = tokens
        payload.update(self.extra)
        return payload


EventCallback: TypeAlias = Callable[[PlannerEvent], Awaitable[None] | None]
"""``def cb(event)`` or ``async def cb(event)``."""


async def emit_event(callback: EventCallback | None, event: PlannerEvent) -> None:
    """Deliver ``event`` to ``callback``; a failing callback is logged, never raised.

    Args:
        callback: the user's callback (sync or async), or ``None``.
        event: the event.
    """
    if callback is None:
        return
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception(
            "planner event_callback failed on %s", event.event_type, extra={"run_id": event.run_id}
        )


def make_event(
    event_type: PlannerEventType,
    *,
    step: int,
    run_id: str,
    tenant_id: str = DEFAULT_TENANT,
    **fields: Any,
) -> PlannerEvent:
    """Build a :class:`PlannerEvent` stamped with the current time."""
    return PlannerEvent(
        event_type=event_type,
        ts=time.time(),
        step=step,
        run_id=run_id,
        tenant_id=tenant_id,
        **fields,
    )
