"""Streaming responses: ``emit_chunk`` inside and outside nodes, SSE/WebSocket, stream helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from penguiflow import (
    FinalAnswer,
    FlowError,
    Headers,
    Message,
    Node,
    StreamChunk,
    chunk_to_ws_json,
    create,
    emit_stream_events,
    format_sse_event,
    stream_flow,
)


def envelope(payload: object = "go") -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"))


async def speaker(msg: Message, ctx) -> Message:
    for token in ("Hello", " world"):
        await ctx.emit_chunk(parent=msg, text=token)
    await ctx.emit_chunk(parent=msg, text="", done=True)
    return msg.model_copy(update={"payload": FinalAnswer(text="Hello world")})


async def test_stream_flow_yields_chunks_then_the_final_answer() -> None:
    flow = create(Node(speaker, name="speaker"))
    flow.run()
    try:
        items = [item async for item in stream_flow(flow, envelope(), include_final=True)]
        only_chunks = [item async for item in stream_flow(flow, envelope(), timeout=2)]
    finally:
        await flow.stop()
    assert [c.text for c in items[:3]] == ["Hello", " world", ""]
    assert [c.seq for c in items[:3]] == [0, 1, 2] and items[2].done
    assert items[3] == FinalAnswer(text="Hello world")
    assert len(only_chunks) == 3 and all(isinstance(c, StreamChunk) for c in only_chunks)


async def test_stream_flow_raises_the_trace_failure() -> None:
    async def broken(msg, ctx):
        raise RuntimeError("model down")

    flow = create(Node(broken, name="broken"))
    flow.run()
    try:
        with pytest.raises(FlowError, match="model down"):
            async for _ in stream_flow(flow, envelope(), timeout=2):
                pass
    finally:
        await flow.stop()


async def test_emit_chunk_takes_an_explicit_seq() -> None:
    async def resume_stream(msg: Message, ctx) -> None:
        first = await ctx.emit_chunk(parent=msg, text="a", seq=10)
        second = await ctx.emit_chunk(parent=msg, text="b", done=True)
        assert (first.seq, second.seq) == (10, 11)

    flow = create(Node(resume_stream, name="resume"))
    flow.run()
    try:
        message = envelope()
        await flow.emit(message)
        chunks = [(await flow.fetch(trace_id=message.trace_id, timeout=2)).payload for _ in "ab"]
    finally:
        await flow.stop()
    assert [c.seq for c in chunks] == [10, 11]


async def test_flow_emit_chunk_feeds_chunks_from_outside_a_node() -> None:
    received: list[StreamChunk] = []

    async def sink(msg: Message, ctx) -> Message | None:
        received.append(msg.payload)
        if msg.payload.done:
            text = "".join(c.text for c in received)
            return msg.model_copy(update={"payload": FinalAnswer(text=text)})
        return None

    flow = create(Node(sink, name="sink"))
    flow.run()
    try:
        parent = envelope()
        first = await flow.emit_chunk(parent=parent, text="to", meta={"i": 0})
        await flow.emit_chunk(parent=parent, text="ken", done=True)
        out = await flow.fetch(trace_id=parent.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert (first.stream_id, first.seq) == (parent.trace_id, 0)
    assert [c.seq for c in received] == [0, 1]
    assert out.payload == FinalAnswer(text="token")


async def test_emit_stream_events_forwards_a_provider_stream_and_closes_it() -> None:
    async def provider() -> AsyncIterator[dict[str, str]]:
        for token in ("Hel", "lo"):
            yield {"delta": token}

    async def llm(msg: Message, ctx) -> None:
        await emit_stream_events(
            provider(),
            ctx,
            msg,
            adapter=lambda event: (event["delta"], False, {"raw": event}),
            final_meta={"finish": "stop"},
        )

    flow = create(Node(llm, name="llm"))
    flow.run()
    try:
        message = envelope()
        await flow.emit(message)
        chunks = [(await flow.fetch(trace_id=message.trace_id, timeout=2)).payload for _ in "123"]
    finally:
        await flow.stop()
    assert [c.text for c in chunks] == ["Hel", "lo", ""]
    assert chunks[2].done and chunks[2].meta == {"finish": "stop"}
    assert chunks[0].meta == {"raw": {"delta": "Hel"}}


def test_chunks_render_as_sse_and_websocket_json() -> None:
    chunk = StreamChunk(stream_id="s", seq=3, text="hi", meta={"lang": "en"})
    assert format_sse_event(chunk) == 'event: chunk\nid: 3\ndata: hi\ndata: {"lang": "en"}\n\n'
    done = StreamChunk(stream_id="s", seq=4, text="two\nlines", done=True)
    assert format_sse_event(done, retry_ms=500) == (
        "event: done\nid: 4\ndata: two\ndata: lines\nretry: 500\n\n"
    )
    assert format_sse_event(chunk, event_name="token").startswith("event: token\n")
    assert json.loads(chunk_to_ws_json(chunk, extra={"channel": "c"})) == {
        "stream_id": "s",
        "seq": 3,
        "text": "hi",
        "done": False,
        "meta": {"lang": "en"},
        "channel": "c",
    }


async def test_many_streams_of_one_flow_do_not_mix() -> None:
    flow = create(Node(speaker, name="speaker"))
    flow.run()
    try:

        async def collect(message: Message) -> list[str]:
            return [c.text async for c in stream_flow(flow, message, timeout=2)]

        results = await asyncio.gather(*(collect(envelope(i)) for i in range(5)))
    finally:
        await flow.stop()
    assert all(texts == ["Hello", " world", ""] for texts in results)
