"""Node spans of the runtime, its gauges, and trace ids in log records."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

from opentelemetry import trace
from otel_support import Collected, points

from penguiflow import Headers, Message, Node, NodePolicy, configure_logging, create


def _msg(payload: Any, trace_id: str) -> Message:
    return Message(payload=payload, headers=Headers(tenant="t"), trace_id=trace_id)


async def test_node_spans_are_children_of_the_span_that_emitted_the_trace(
    otel: Collected,
) -> None:
    attempts: dict[str, int] = {}

    async def first(message: Message, ctx: Any) -> Message:
        return message

    async def second(message: Message, ctx: Any) -> Message:
        attempts[message.trace_id] = attempts.get(message.trace_id, 0) + 1
        if attempts[message.trace_id] == 1:
            raise ConnectionError("once")
        return message

    a = Node(first, name="a")
    b = Node(second, name="b", policy=NodePolicy(max_retries=1, backoff_base=0.0))
    flow = create(a.to(b))
    flow.run()
    tracer = otel.tracer_provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("request A"):
            await flow.emit(_msg("x", "trace-a"))
        with tracer.start_as_current_span("request B"):
            await flow.emit(_msg("y", "trace-b"))
        # Fetched outside both spans: the workers that ran the nodes never saw them.
        assert (await flow.fetch(trace_id="trace-a", timeout=5)).payload == "x"
        assert (await flow.fetch(trace_id="trace-b", timeout=5)).payload == "y"
    finally:
        await flow.stop()
    for request, trace_id in (("request A", "trace-a"), ("request B", "trace-b")):
        parent = otel.one(request)
        nodes = [s for s in otel.spans() if s["attributes"].get("penguiflow.trace_id") == trace_id]
        assert sorted(s["name"] for s in nodes) == ["node a", "node b"]
        assert {s["parent_id"] for s in nodes} == {parent["span_id"]}
        node_b = next(s for s in nodes if s["name"] == "node b")
        assert node_b["attributes"]["penguiflow.node.attempts"] == 2
        assert node_b["events"] == ["attempt_failed"]


async def test_a_node_that_fails_for_good_has_a_failed_span(otel: Collected) -> None:
    async def broken(message: Message, ctx: Any) -> Message:
        raise ValueError("nope")

    flow = create(Node(broken, name="broken").to())
    flow.run()
    try:
        await flow.emit(_msg("x", "t1"))
        try:
            await flow.fetch(trace_id="t1", timeout=5)
        except Exception as exc:
            assert type(exc).__name__ == "FlowError"
    finally:
        await flow.stop()
    span = otel.one("node broken")
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == "node_exception"
    assert span["parent_id"] is None  # emitted outside any span


async def test_queue_depth_and_in_flight_gauges_follow_running_flows(otel: Collected) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(message: Message, ctx: Any) -> Message:
        started.set()
        await release.wait()
        return message

    flow = create(Node(slow, name="slow", policy=NodePolicy(max_concurrency=1)).to())
    flow.run()
    try:
        for i in range(3):
            await flow.emit(_msg(i, f"t{i}"))
        await asyncio.wait_for(started.wait(), 5)
        metrics = otel.metrics()
        (depth,) = points(
            metrics, "penguiflow.node.queue.depth", **{"penguiflow.node.name": "slow"}
        )
        (busy,) = points(metrics, "penguiflow.node.in_flight", **{"penguiflow.node.name": "slow"})
        assert (depth.value, busy.value) == (2, 1)
        release.set()
        for i in range(3):
            await flow.fetch(trace_id=f"t{i}", timeout=5)
    finally:
        await flow.stop()
    # A stopped flow is no longer observed.
    assert points(otel.metrics(), "penguiflow.node.queue.depth") == []


def test_log_records_carry_the_ids_of_the_current_span(otel: Collected) -> None:
    stream = io.StringIO()
    log = configure_logging(structured=True, stream=stream, logger_name="penguiflow.test")
    try:
        log.info("outside")
        with otel.tracer_provider.get_tracer("test").start_as_current_span("work") as span:
            log.info("inside", extra={"trace_id": "flow-trace-1"})
            ids = span.get_span_context()
        plain = io.StringIO()
        configure_logging(stream=plain, logger_name="penguiflow.test")
        with otel.tracer_provider.get_tracer("test").start_as_current_span("more"):
            log.info("plain")
    finally:
        log.handlers.clear()
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "span_id" not in outside and "trace_id" not in outside
    assert inside["trace_id"] == trace.format_trace_id(ids.trace_id)
    assert inside["span_id"] == trace.format_span_id(ids.span_id)
    assert inside["flow_trace_id"] == "flow-trace-1"
    assert re.search(r" plain trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}$", plain.getvalue())


def test_logs_have_no_span_ids_with_telemetry_off() -> None:
    stream = io.StringIO()
    log = configure_logging(structured=True, stream=stream, logger_name="penguiflow.test")
    try:
        log.info("message", extra={"trace_id": "flow-trace-2"})
    finally:
        log.handlers.clear()
    record = json.loads(stream.getvalue())
    assert record["trace_id"] == "flow-trace-2" and "span_id" not in record
