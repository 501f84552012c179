"""The state store: the ``StateStore`` protocol and the in-memory store for tests."""

from __future__ import annotations

import asyncio

import pytest

from penguiflow import Headers, Message, Node, RemoteBinding, StateStore, StoredEvent, create
from penguiflow.errors import ConfigError, FlowStateError
from penguiflow.state.in_memory import InMemoryStateStore


def event(kind: str, ts: float, trace_id: str = "t") -> StoredEvent:
    return StoredEvent(trace_id=trace_id, ts=ts, kind=kind, node_name="n", node_id="n#1")


async def test_the_in_memory_store_implements_the_protocol() -> None:
    store = InMemoryStateStore()
    assert isinstance(store, StateStore)
    await store.save_event(event("node_success", 2.0))
    await store.save_event(event("node_start", 1.0))
    await store.save_event(event("node_start", 1.0))  # a retried write is stored once
    await store.save_event(event("node_start", 1.0, trace_id="other"))
    history = await store.load_history("t")
    assert [e.kind for e in history] == ["node_start", "node_success"]
    assert await store.load_history("unknown") == []


async def test_bindings_are_kept_once_per_trace_context_and_task() -> None:
    store = InMemoryStateStore()
    first = RemoteBinding(trace_id="t", context_id="c", task_id="k", agent_url="http://a")
    moved = RemoteBinding(trace_id="t", context_id="c", task_id="k", agent_url="http://b")
    await store.save_remote_binding(first)
    await store.save_remote_binding(moved)
    assert store.bindings == [moved]


async def test_old_events_make_room_past_the_limit_and_bad_limits_are_refused() -> None:
    store = InMemoryStateStore(max_events_per_trace=2)
    for ts in (1.0, 2.0, 3.0):
        await store.save_event(event(f"e{ts}", ts))
    assert [e.kind for e in await store.load_history("t")] == ["e2.0", "e3.0"]
    with pytest.raises(ConfigError, match="max_events_per_trace"):
        InMemoryStateStore(max_events_per_trace=-1)


async def test_a_flow_persists_its_events_and_reads_them_back() -> None:
    async def echo(message, ctx):
        return message

    store = InMemoryStateStore()
    flow = create(Node(echo, name="echo"), state_store=store)
    flow.run()
    try:
        message = Message(payload="x", headers=Headers(tenant="acme"), trace_id="job-1")
        await flow.emit(message)
        await asyncio.wait_for(flow.fetch(trace_id="job-1"), 2)
        history = await flow.load_history("job-1")
    finally:
        await flow.stop()
    assert [e.kind for e in history] == ["node_start", "node_success"]
    assert history[1].payload["node_name"] == "echo"


async def test_load_history_needs_a_state_store() -> None:
    async def echo(message, ctx):
        return message

    with pytest.raises(FlowStateError, match="state_store"):
        await create(Node(echo, name="echo")).load_history("t")
