"""Streaming helpers: ``StreamChunk``s to SSE and WebSocket text, and flows as streams.

- :func:`format_sse_event` and :func:`chunk_to_ws_json` turn a chunk into what a web
  layer sends.
- :func:`stream_flow` emits a message and yields what the flow streams back for it.
- :func:`emit_stream_events` turns a provider's async stream into ``ctx.emit_chunk`` calls.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from .types import Message, StreamChunk

if TYPE_CHECKING:
    from ._runner import Targets
    from .context import Context
    from .flow import PenguiFlow

__all__ = [
    "EventAdapter",
    "chunk_to_ws_json",
    "emit_stream_events",
    "format_sse_event",
    "stream_flow",
]

EventAdapter: TypeAlias = Callable[[Any], tuple[str, bool, dict[str, Any]]]
"""``adapter(event) -> (text, done, meta)``: reads one event of a provider's stream."""


def format_sse_event(
    chunk: StreamChunk, *, event_name: str | None = None, retry_ms: int | None = None
) -> str:
    """Return ``chunk`` as one Server-Sent Event, blank line included.

    ``event:`` is ``event_name``, or ``done`` for the last chunk and ``chunk`` otherwise;
    ``id:`` is the chunk's ``seq``; the text is the ``data:`` (one ``data:`` line per
    line of text, so a client joins them back with newlines); a chunk's ``meta`` follows
    as a JSON ``data:`` line.

    Args:
        chunk: the chunk.
        event_name: the SSE event name to use.
        retry_ms: a ``retry:`` value for the client's reconnection delay.
    """
    lines = [f"event: {event_name or ('done' if chunk.done else 'chunk')}", f"id: {chunk.seq}"]
    lines.extend(f"data: {line}" for line in chunk.text.split("\n"))
    if chunk.meta:
        lines.append(f"data: {json.dumps(chunk.meta, ensure_ascii=False)}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    return "\n".join(lines) + "\n\n"


def chunk_to_ws_json(chunk: StreamChunk, *, extra: Mapping[str, Any] | None = None) -> str:
    """Return ``chunk`` as a JSON text for a WebSocket.

    Keys: ``stream_id``, ``seq``, ``text``, ``done``, ``meta``, then those of ``extra``.
    """
    payload = {
        "stream_id": chunk.stream_id,
        "seq": chunk.seq,
        "text": chunk.text,
        "done": chunk.done,
        "meta": chunk.meta,
    }
    payload.update(extra or {})
    return json.dumps(payload, ensure_ascii=False)


async def stream_flow(
    flow: PenguiFlow,
    parent_msg: Message,
    *,
    to: Targets = None,
    timeout: float | None = None,
    include_final: bool = False,
) -> AsyncIterator[Any]:
    """Emit ``parent_msg`` into a running flow and yield what comes back for its trace.

    Yields each ``StreamChunk`` (the payload, not its envelope). The stream ends after
    the chunk marked ``done``; with ``include_final`` it goes on to the next result and
    yields its payload too (the final answer). A result that is not a chunk is yielded
    and ends the stream. Only ``parent_msg``'s trace is read, so concurrent streams of
    one flow do not mix. The flow is left running.

    Args:
        flow: a running flow.
        parent_msg: the envelope to send.
        to: ingress node(s) to send it to (default: all).
        timeout: seconds to wait for each result.
        include_final: also yield the result that follows the last chunk.

    Raises:
        FlowError: the trace failed (as ``flow.fetch`` raises it).
        TimeoutError: a result took longer than ``timeout``.
    """
    await flow.emit(parent_msg, to=to)
    while True:
        result = await flow.fetch(trace_id=parent_msg.trace_id, timeout=timeout)
        payload = result.payload if isinstance(result, Message) else result
        yield payload
        if not isinstance(payload, StreamChunk) or (payload.done and not include_final):
            return


async def emit_stream_events(
    source: AsyncIterable[Any],
    ctx: Context,
    parent_msg: Message,
    *,
    adapter: EventAdapter | None = None,
    to: Targets = None,
    final_meta: Mapping[str, Any] | None = None,
) -> None:
    """Forward a provider's async stream as ``StreamChunk``s, from inside a node.

    Each event becomes ``ctx.emit_chunk(parent=parent_msg, ...)``, read by ``adapter``
    (default: its ``str()``, not done, no meta). If the stream ends without a ``done``
    event, a last empty chunk with ``done=True`` (and ``final_meta``) closes it.

    Args:
        source: the provider's events.
        ctx: the node's context.
        parent_msg: the envelope being answered.
        adapter: ``adapter(event) -> (text, done, meta)``.
        to: successors to send the chunks to (default: all, or Rookery).
        final_meta: meta of the closing chunk, when one is added.
    """
    read = adapter or _as_text
    closed = False
    async for event in source:
        text, done, meta = read(event)
        await ctx.emit_chunk(parent=parent_msg, text=text, done=done, meta=meta, to=to)
        closed = closed or done
    if not closed:
        await ctx.emit_chunk(parent=parent_msg, text="", done=True, meta=final_meta or {}, to=to)


def _as_text(event: Any) -> tuple[str, bool, dict[str, Any]]:
    return str(event), False, {}
