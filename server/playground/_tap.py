"""Recording each model request and reply of the runs the playground serves.

The planner's events say that the model was asked and how long it took; the trajectory
view also shows *what* was asked and answered. :class:`ModelTap` wraps the ``complete``
method of the planner's LLM client object (``planner.llm_client``, the one object every
part of the planner calls), forwards every argument unchanged, and hands each exchange,
with the run it belongs to, to a callback. Runs are told apart with a context variable
set around each run the playground drives; calls made outside those runs are not
recorded. :meth:`ModelTap.detach` puts the original method back.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["Exchange", "ModelTap", "current_run"]

logger = logging.getLogger("penguiflow.server.playground")

current_run: ContextVar[str | None] = ContextVar("penguiflow_playground_run", default=None)
"""The run the playground is driving in this context (``None`` elsewhere)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One model call: what was sent and what came back.

    Attributes:
        run_id: the run that made the call.
        messages: the chat messages sent.
        response_format: the kind of output format requested (``json_schema``...).
        reply: the reply text (``None`` when the call failed).
        tool_calls: native tool calls of the reply, as JSON.
        error: the failure, when the call failed.
        latency_ms: how long the call took.
        usage: token counts reported by the client.
        cost_usd: the price reported by the client.
    """

    run_id: str
    messages: list[dict[str, Any]]
    response_format: str | None
    reply: str | None
    tool_calls: list[dict[str, Any]]
    error: str | None
    latency_ms: float
    usage: dict[str, int]
    cost_usd: float | None


Recorder = Callable[[Exchange], Awaitable[None]]


def _format_kind(response_format: Any) -> str | None:
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        return kind if isinstance(kind, str) else "custom"
    return None


def _reply_fields(reply: Any) -> tuple[str | None, list[dict[str, Any]], dict[str, int], Any]:
    if isinstance(reply, str):
        return reply, [], {}, None
    text = getattr(reply, "text", None)
    to_dict = getattr(getattr(reply, "usage", None), "to_dict", None)
    counts = to_dict() if callable(to_dict) else {}
    calls = [
        call.to_message() if callable(getattr(call, "to_message", None)) else {"call": repr(call)}
        for call in getattr(reply, "tool_calls", ()) or ()
    ]
    return (
        text if isinstance(text, str) else None,
        calls,
        counts,
        getattr(reply, "cost_usd", None),
    )


class ModelTap:
    """Records the model calls of playground runs (see the module docstring).

    Args:
        record: ``async def record(exchange)``, called after each call of a playground run.
    """

    def __init__(self, record: Recorder) -> None:
        self._record = record
        self._client: Any = None
        self._original: Any = None
        self._own = False  # the client held ``complete`` as an instance attribute

    @property
    def attached(self) -> bool:
        """Whether the tap is recording a client."""
        return self._client is not None

    def attach(self, client: Any) -> bool:
        """Start recording ``client``'s calls; return ``False`` if it cannot be wrapped."""
        original = getattr(client, "complete", None)
        if original is None or self._client is not None:
            return False
        record = self._record

        @functools.wraps(original)
        async def complete(**kwargs: Any) -> Any:
            run_id = current_run.get()
            if run_id is None:
                return await original(**kwargs)
            started = time.perf_counter()
            try:
                reply = await original(**kwargs)
            except Exception as exc:
                await _quietly(
                    record, run_id, kwargs, None, f"{type(exc).__name__}: {exc}", started
                )
                raise
            await _quietly(record, run_id, kwargs, reply, None, started)
            return reply

        own = "complete" in getattr(client, "__dict__", {})
        try:
            client.complete = complete
        except (AttributeError, TypeError):
            logger.info("the LLM client %r cannot be tapped; requests are not recorded", client)
            return False
        self._client, self._original, self._own = client, original, own
        return True

    def detach(self) -> None:
        """Stop recording and give the client its own ``complete`` back."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._own:
            client.complete = self._original
        else:
            del client.complete


async def _quietly(
    record: Recorder,
    run_id: str,
    kwargs: dict[str, Any],
    reply: Any,
    error: str | None,
    started: float,
) -> None:
    text, calls, usage, cost = _reply_fields(reply) if reply is not None else (None, [], {}, None)
    exchange = Exchange(
        run_id=run_id,
        messages=[dict(m) for m in kwargs.get("messages") or ()],
        response_format=_format_kind(kwargs.get("response_format")),
        reply=text,
        tool_calls=calls,
        error=error,
        latency_ms=(time.perf_counter() - started) * 1000,
        usage=usage,
        cost_usd=cost if isinstance(cost, int | float) else None,
    )
    try:
        await record(exchange)
    except Exception:  # recording must never fail the model call
        logger.exception("could not record a model exchange of run %s", run_id)
