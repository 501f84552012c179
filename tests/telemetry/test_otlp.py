"""Export over OTLP/HTTP to a real receiver on 127.0.0.1 that decodes the protobuf requests."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otel_helpers import act, build_planner, final

from penguiflow.telemetry import instrument, uninstrument


class _Receiver(ThreadingHTTPServer):
    """Keeps every decoded export request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        response: Any
        if self.path == "/v1/traces":
            self.server.traces.append(ExportTraceServiceRequest.FromString(body))
            response = ExportTraceServiceResponse()
        elif self.path == "/v1/metrics":
            self.server.metrics.append(ExportMetricsServiceRequest.FromString(body))
            response = ExportMetricsServiceResponse()
        else:
            self.send_error(404)
            return
        payload = response.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


async def test_spans_and_metrics_reach_an_otlp_http_receiver(receiver: _Receiver) -> None:
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=10),
        export_interval_millis=3_600_000,  # exported by force_flush below
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        planner = build_planner([act("weather", {"city": "Paris"}), final("sunny")])
        async with planner:
            await planner.run("weather in Paris?")
    finally:
        uninstrument()
    assert await asyncio.to_thread(tracer_provider.force_flush, 10_000)
    assert await asyncio.to_thread(meter_provider.force_flush, 10_000)
    await asyncio.to_thread(tracer_provider.shutdown)
    await asyncio.to_thread(meter_provider.shutdown)

    spans = [
        span
        for request in receiver.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        if scope.scope.name == "penguiflow"
        for span in scope.spans
    ]
    by_name = {span.name: span for span in spans}
    assert set(by_name) == {
        "invoke_agent assistant",
        "chat gpt-4o-mini",
        "execute_tool weather",
        "node weather",
    }
    assert len({span.trace_id for span in spans}) == 1
    operations = {
        name: {kv.key: _value(kv.value) for kv in span.attributes}.get("gen_ai.operation.name")
        for name, span in by_name.items()
    }
    assert operations == {
        "invoke_agent assistant": "invoke_agent",
        "chat gpt-4o-mini": "chat",
        "execute_tool weather": "execute_tool",
        "node weather": None,
    }
    chat = {kv.key: _value(kv.value) for kv in by_name["chat gpt-4o-mini"].attributes}
    assert chat["gen_ai.usage.input_tokens"] == 100
    assert list(_value(kv) for kv in chat["gen_ai.response.finish_reasons"].values) == ["stop"]

    names = {
        metric.name
        for request in receiver.metrics
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "penguiflow.run.duration",
        "penguiflow.tool.duration",
    } <= names
