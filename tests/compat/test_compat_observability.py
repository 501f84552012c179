"""Observability as documented: ``FlowEvent`` fields, ``log_flow_events``, ``format_flow_event``."""

from __future__ import annotations

import asyncio
import logging

import pytest

from penguiflow import (
    FlowEvent,
    Headers,
    LatencyCallback,
    Message,
    Node,
    create,
    format_flow_event,
    log_flow_events,
)
from penguiflow.metrics import FlowEvent as MetricsFlowEvent


async def echo(message, ctx):
    return message


def envelope(payload: object, trace_id: str) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"), trace_id=trace_id)


async def test_events_carry_the_documented_fields() -> None:
    events: list[FlowEvent] = []

    async def record(event: FlowEvent) -> None:
        events.append(event)

    a, b = Node(echo, name="a"), Node(echo, name="b")
    flow = create(a.to(b), middlewares=[record], queue_maxsize=16)
    flow.run()
    try:
        for i in range(3):
            await flow.emit(envelope(i, f"t{i}"))
        for i in range(3):
            await flow.fetch(trace_id=f"t{i}")
    finally:
        await flow.stop()
    start = next(e for e in events if e.event_type == "node_start" and e.node_name == "a")
    assert isinstance(start, MetricsFlowEvent)
    assert start.queue_depth == start.queue_depth_in + start.queue_depth_out
    assert (start.outgoing_edges, start.queue_maxsize) == (1, 16)
    assert start.trace_pending is not None and start.trace_cancelled is False
    egress = next(e for e in events if e.node_name == "b")
    assert egress.outgoing_edges == 1  # Rookery
    payload = start.to_payload()
    assert {
        "ts",
        "event",
        "node_name",
        "node_id",
        "trace_id",
        "latency_ms",
        "q_depth_in",
        "q_depth_out",
        "q_depth_total",
        "outgoing",
        "queue_maxsize",
        "attempt",
        "trace_inflight",
        "trace_cancelled",
        "trace_pending",
    } <= set(payload)
    assert payload["q_depth_total"] == payload["q_depth_in"] + payload["q_depth_out"]
    success = next(e for e in events if e.event_type == "node_success")
    samples = success.metric_samples()
    assert samples["latency_ms"] == success.latency_ms and "queue_depth_total" in samples
    assert success.tag_values()["node_name"] == success.node_name


async def test_a_cancelled_trace_is_flagged_on_its_events() -> None:
    events: list[FlowEvent] = []
    started = asyncio.Event()

    async def record(event: FlowEvent) -> None:
        events.append(event)

    async def slow(message, ctx):
        started.set()
        await asyncio.sleep(10)

    flow = create(Node(slow, name="slow"), middlewares=[record])
    flow.run()
    try:
        await flow.emit(envelope("x", "job-1"))
        await started.wait()
        assert await flow.cancel("job-1")
    finally:
        await flow.stop()
    by_kind = {e.event_type: e for e in events}
    assert {"trace_cancel_start", "node_trace_cancelled", "trace_cancel_finish"} <= set(by_kind)
    assert all(by_kind[k].trace_cancelled for k in ("trace_cancel_start", "node_trace_cancelled"))
    assert by_kind["node_start"].trace_cancelled is False


async def test_log_flow_events_puts_the_event_fields_in_the_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    latencies: list[tuple[str, float]] = []

    def on_latency(kind: str, latency_ms: float, event: FlowEvent) -> None:
        latencies.append((kind, latency_ms))

    callback: LatencyCallback = on_latency
    logger = logging.getLogger("my.flow")
    flow = create(
        Node(echo, name="echo"), middlewares=[log_flow_events(logger, latency_callback=callback)]
    )
    flow.run()
    caplog.set_level(logging.INFO, logger="my.flow")
    try:
        await flow.emit(envelope("x", "job-2"))
        await flow.fetch(trace_id="job-2")
    finally:
        await flow.stop()
    records = {r.getMessage(): r for r in caplog.records if r.name == "my.flow"}
    success = records["node_success"]
    assert success.node_name == "echo"  # type: ignore[attr-defined]
    assert success.trace_id == "job-2"  # type: ignore[attr-defined]
    assert success.latency_ms == latencies[0][1] and latencies[0][0] == "node_success"  # type: ignore[attr-defined]
    assert "node_start" in records and records["node_start"].levelno == logging.INFO


async def test_a_failing_latency_callback_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(kind: str, latency_ms: float, event: FlowEvent) -> None:
        raise ValueError("metrics backend down")

    flow = create(Node(echo, name="echo"), middlewares=[log_flow_events(latency_callback=broken)])
    flow.run()
    caplog.set_level(logging.INFO)
    try:
        await flow.emit(envelope("x", "job-3"))
        assert (await flow.fetch(trace_id="job-3")).payload == "x"
    finally:
        await flow.stop()
    failures = [r for r in caplog.records if "latency_callback failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None
    assert failures[0].trace_id == "job-3"  # type: ignore[attr-defined]


def test_format_flow_event_flattens_the_error_payload() -> None:
    event = FlowEvent(
        event_type="node_failed",
        ts=1.0,
        node_name="n",
        node_id="n#1",
        trace_id="t",
        attempt=0,
        latency_ms=None,
        queue_depth_in=1,
        queue_depth_out=2,
        outgoing_edges=1,
        queue_maxsize=64,
        trace_pending=1,
        trace_inflight=0,
        trace_cancelled=False,
        extra={"flow_error": {"code": "node_exception", "message": "boom"}},
    )
    formatted = format_flow_event(event)
    assert formatted["flow_error"] == {"code": "node_exception", "message": "boom"}
    assert (formatted["flow_error_code"], formatted["flow_error_message"]) == (
        "node_exception",
        "boom",
    )
    assert formatted["q_depth_total"] == 3 and event.queue_depth == 3
    plain = FlowEvent(event_type="node_start", ts=1.0)
    assert plain.error_payload is None and "flow_error" not in format_flow_event(plain)
