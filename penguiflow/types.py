"""Payload types of the runtime: envelopes, streaming chunks, controller state and plans."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "WM",
    "FinalAnswer",
    "Headers",
    "Message",
    "PlanStep",
    "StreamChunk",
    "Thought",
    "chunk_envelope",
]


def _new_trace_id() -> str:
    return uuid.uuid4().hex


class Headers(BaseModel):
    """Routing metadata carried by a :class:`Message`.

    Attributes:
        tenant: the tenant the message belongs to; keep it constant across a trace.
        topic: an optional routing topic.
        priority: an optional priority hint (higher is more urgent).
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    topic: str | None = None
    priority: int = 0


class Message(BaseModel):
    """An envelope: a payload plus headers, a trace id, an optional deadline and meta.

    Attributes:
        payload: the data the nodes work on.
        headers: tenant and routing metadata.
        trace_id: correlates every message of one request; generated when omitted.
        ts: creation time (``time.time()``).
        deadline_s: absolute wall-clock deadline (``time.time()`` seconds) or ``None``.
        meta: free-form metadata that travels with the message.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    payload: Any
    headers: Headers
    trace_id: str = Field(default_factory=_new_trace_id)
    ts: float = Field(default_factory=time.time)
    deadline_s: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class StreamChunk(BaseModel):
    """One piece of a streamed answer, emitted with ``ctx.emit_chunk``.

    Attributes:
        stream_id: the stream the chunk belongs to (the parent's trace id by default).
        seq: position in the stream, starting at 0, without gaps.
        text: the chunk's text.
        done: ``True`` on the last chunk of the stream.
        meta: free-form metadata.
    """

    stream_id: str
    seq: int
    text: str
    done: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)


class FinalAnswer(BaseModel):
    """The result of a controller loop; always goes to Rookery (egress).

    Attributes:
        text: the answer.
        citations: optional sources.
    """

    text: str
    citations: list[str] = Field(default_factory=list)


class WM(BaseModel):
    """Working memory of a controller loop (a node with an edge to itself).

    The runtime counts a hop each time a controller returns a ``WM``. When ``hops``
    reaches ``budget_hops``, ``tokens_used`` reaches ``budget_tokens`` or the message's
    ``deadline_s`` passes, the loop ends with a :class:`FinalAnswer` saying so ("Hop
    budget exhausted", "Token budget exhausted", "Deadline exceeded").

    Attributes:
        query: the question being worked on.
        facts: what the loop has learned so far.
        hops: controller iterations so far (maintained by the runtime).
        budget_hops: the most iterations allowed (``None`` for no limit).
        tokens_used: tokens spent so far (maintained by the node).
        budget_tokens: the most tokens allowed (``None`` for no limit).
        confidence: how sure the controller is of what it has (free for its own use).
    """

    query: str
    facts: list[Any] = Field(default_factory=list)
    hops: int = 0
    budget_hops: int | None = 8
    tokens_used: int = 0
    budget_tokens: int | None = None
    confidence: float = 0.0


class PlanStep(BaseModel):
    """One step a controller plans to take; for controllers that show their plan.

    Attributes:
        kind: ``retrieve``, ``web``, ``sql``, ``summarize``, ``route`` or ``stop``.
        args: the step's arguments.
        max_concurrency: how many of the step's calls may run at once.
    """

    kind: Literal["retrieve", "web", "sql", "summarize", "route", "stop"]
    args: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int = 1


class Thought(BaseModel):
    """A controller's plan and why; an intermediate artifact for debugging and display.

    Attributes:
        steps: the planned steps.
        rationale: why these steps.
        done: ``True`` when the controller considers the work finished.
    """

    steps: list[PlanStep]
    rationale: str
    done: bool = False


def chunk_envelope(parent: Message, chunk: StreamChunk) -> Message:
    """Wrap ``chunk`` in an envelope that inherits ``parent``'s routing.

    The headers, trace, deadline and a copy of ``meta`` come from ``parent``.
    """
    return Message(
        payload=chunk,
        headers=parent.headers,
        trace_id=parent.trace_id,
        deadline_s=parent.deadline_s,
        meta=dict(parent.meta),
    )
