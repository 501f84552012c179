import asyncio
import io
import json
import logging

import pytest
from runtime_helpers import msg

import penguiflow
from penguiflow import (
    BusEnvelope,
    FlowError,
    Node,
    NodePolicy,
    configure_logging,
    create,
    flow_to_mermaid,
    log_flow_events,
)
from penguiflow.state import InMemoryStateStore
from penguiflow.testkit import assert_node_sequence, get_recorded_events, run_one, simulate_error


async def echo(m, ctx):
    return m


async def test_events_carry_queue_and_trace_counters_and_failing_middleware_is_harmless():
    events = []

    async def broken(event):
        raise RuntimeError("middleware bug")

    async def record(event):
        events.append(event)

    flow = create(Node(echo, name="e"), middlewares=[broken, record])
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        assert (await flow.fetch(trace_id=m.trace_id)).payload == 1
    finally:
        await flow.stop()
    kinds = [e.event_type for e in events]
    assert kinds == ["node_start", "node_success"]
    assert events[0].trace_pending == 1 and events[0].trace_inflight == 1
    assert events[1].latency_ms is not None and events[1].node_name == "e"


async def test_cancel_events_and_state_store_history():
    store = InMemoryStateStore()
    started = asyncio.Event()

    async def slow(m, ctx):
        started.set()
        await asyncio.sleep(10)

    flow = create(Node(slow, name="slow"), state_store=store)
    flow.run()
    try:
        m = msg(1, trace_id="T1")
        await flow.emit(m)
        await started.wait()
        await flow.cancel("T1")
    finally:
        await flow.stop()
    kinds = [e.kind for e in await store.load_history("T1")]
    assert kinds == [
        "node_start",
        "trace_cancel_start",
        "node_trace_cancelled",
        "trace_cancel_finish",
    ]


async def test_message_bus_sees_every_edge():
    class Bus:
        def __init__(self):
            self.envelopes: list[BusEnvelope] = []

        async def publish(self, envelope):
            self.envelopes.append(envelope)

    bus = Bus()
    a, b = Node(echo, name="a"), Node(echo, name="b")
    flow = create(a.to(b), message_bus=bus)
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        await flow.fetch(trace_id=m.trace_id)
    finally:
        await flow.stop()
    assert [(e.target, e.trace_id) for e in bus.envelopes] == [("a", m.trace_id), ("b", m.trace_id)]
    assert bus.envelopes[0].headers == {"tenant": "t", "topic": None, "priority": 0}


async def test_log_flow_events_and_structured_logging_write_one_json_object_per_line():
    stream = io.StringIO()
    configure_logging(logging.DEBUG, structured=True, logger_name="pf-test", stream=stream)
    configure_logging(
        logging.DEBUG, structured=True, logger_name="pf-test", stream=stream
    )  # no dup
    node = Node(simulate_error("bad", fail_times=9), name="bad", policy=NodePolicy(backoff_base=0))
    flow = create(node, middlewares=[log_flow_events("pf-test")])
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        with pytest.raises(FlowError):
            await flow.fetch(trace_id=m.trace_id)
    finally:
        await flow.stop()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["node_start", "node_error", "node_failed"]
    assert records[1]["level"] == "ERROR" and records[1]["trace_id"] == m.trace_id
    assert records[2]["code"] == "node_exception"


async def test_testkit_run_one_and_node_sequence():
    a, b = Node(echo, name="a"), Node(echo, name="b")
    m = msg("x")
    result = await run_one(create(a.to(b)), m)
    assert result.payload == "x"
    assert_node_sequence(m.trace_id, ["a", "b"])
    with pytest.raises(AssertionError, match="expected"):
        assert_node_sequence(m.trace_id, ["b", "a"])
    assert get_recorded_events(m.trace_id)


def test_flow_to_mermaid():
    a, b = Node(echo, name="a"), Node(echo, name="b-2")
    text = flow_to_mermaid(create(a.to(b)))
    assert "OpenSea --> a" in text and "a --> b_2" in text and "b_2 --> Rookery" in text


def test_flow_error_pickles_with_its_fields():
    import pickle

    err = FlowError(
        penguiflow.FlowErrorCode.NODE_TIMEOUT, "slow", node_name="n", trace_id="t", attempts=2
    )
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.node_name, copy.trace_id, copy.attempts) == (err.code, "n", "t", 2)


def test_exported_names_match_the_documented_public_api():
    documented = {
        "create",
        "PenguiFlow",
        "Node",
        "NodePolicy",
        "Context",
        "Message",
        "Headers",
        "StreamChunk",
        "FinalAnswer",
        "FlowError",
        "FlowErrorCode",
        "CycleError",
        "TraceCancelled",
        "FlowEvent",
        "log_flow_events",
        "configure_logging",
        "join_k",
        "map_concurrent",
        "predicate_router",
        "union_router",
        "call_playbook",
        "ModelRegistry",
        "NodeSpec",
        "tool",
        "build_catalog",
        "StateStore",
        "StoredEvent",
        "MessageBus",
        "BusEnvelope",
        "RemoteTransport",
        "testkit",
    }
    assert documented <= set(penguiflow.__all__)
    assert penguiflow.__all__ == sorted(penguiflow.__all__, key=lambda s: (not s.isupper(), s))
    for name in penguiflow.__all__:
        assert hasattr(penguiflow, name), name


def test_import_penguiflow_does_not_import_heavy_dependencies():
    import subprocess
    import sys

    code = (
        "import sys, penguiflow; "
        "heavy=[m for m in ('litellm','sqlalchemy','mcp','tiktoken') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_emit_nowait_is_published_on_the_message_bus_too():
    class Bus:
        def __init__(self):
            self.targets: list[str | None] = []

        async def publish(self, envelope):
            self.targets.append(envelope.target)

    bus = Bus()
    a, b = Node(echo, name="a"), Node(echo, name="b")

    async def fan(m, ctx):
        ctx.emit_nowait(m, to="b")

    src = Node(fan, name="src")
    flow = create(src.to(b), a.to(b), message_bus=bus)
    flow.run()
    try:
        flow.emit_nowait(msg(1), to="a")
        m = msg(2)
        await flow.emit(m, to="src")
        await flow.fetch(trace_id=m.trace_id, timeout=1)
    finally:
        await flow.stop()
    assert sorted(t for t in bus.targets if t) == ["a", "b", "b", "src"]


async def test_events_report_the_queue_depths_in_and_out_of_the_node():
    events = []

    async def record(event):
        events.append(event)

    a, b = Node(echo, name="a"), Node(echo, name="b")
    flow = create(a.to(b), middlewares=[record])
    flow.run()
    try:
        ids = [f"t{i}" for i in range(4)]
        for tid in ids:
            await flow.emit(msg(tid, trace_id=tid))
        for tid in ids:
            await flow.fetch(trace_id=tid, timeout=1)
    finally:
        await flow.stop()
    starts = [e for e in events if e.event_type == "node_start"]
    assert all(e.q_depth_total == e.q_depth_in + e.q_depth_out for e in starts)
    assert all(e.queue_depth == e.q_depth_total for e in starts)  # in and out, as documented
    assert all(
        (e.queue_depth_in, e.queue_depth_out) == (e.q_depth_in, e.q_depth_out) for e in starts
    )
    assert any(e.node_name == "a" and e.q_depth_in > 0 for e in starts)  # others waited
    assert any(e.node_name == "a" and e.q_depth_out > 0 for e in starts)  # b had a backlog
    assert all(e.q_depth_out == 0 for e in starts if e.node_name == "b")  # egress
    payload = starts[0].to_payload()
    assert {"q_depth_in", "q_depth_out", "q_depth_total"} <= set(payload)
