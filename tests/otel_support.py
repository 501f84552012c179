"""Collecting penguiflow's spans and metrics in tests (importable by name from any folder).

:func:`collecting` installs telemetry process-wide with the SDK's in-memory span exporter
and metric reader, and removes it afterwards. :class:`FileSpanExporter` writes spans as
JSON lines, for spans made in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from penguiflow.telemetry import Telemetry, instrument, uninstrument


@dataclass
class Collected:
    """What telemetry reported while :func:`collecting` was active."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    telemetry: Telemetry

    def spans(self) -> list[dict[str, Any]]:
        return [span_record(span) for span in self.exporter.get_finished_spans()]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [span for span in self.spans() if span["name"] == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.named(name)
        assert len(found) == 1, (name, tree(self.spans()))
        return found[0]

    def metrics(self) -> dict[str, list[Any]]:
        """Every metric's data points by metric name (collected now)."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


def providers() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


@contextmanager
def collecting(*, capture_content: bool = False) -> Iterator[Collected]:
    """Install telemetry for the process, reporting to in-memory readers."""
    tracer_provider, exporter, meter_provider, reader = providers()
    telemetry = instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
    )
    try:
        yield Collected(exporter, reader, tracer_provider, meter_provider, telemetry)
    finally:
        uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()


def points(collected: dict[str, list[Any]], name: str, **attributes: Any) -> list[Any]:
    """The data points of metric ``name`` whose attributes include ``attributes``."""
    return [
        point
        for point in collected.get(name, [])
        if all(point.attributes.get(k) == v for k, v in attributes.items())
    ]


class FileSpanExporter(SpanExporter):
    """Writes each finished span as one JSON line (for spans made in another process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a", encoding="utf-8") as handle:
            for span in spans:
                handle.write(json.dumps(span_record(span)) + "\n")
        return SpanExportResult.SUCCESS


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The parts of a span the tests read, as JSON."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": None if span.parent is None else format(span.parent.span_id, "016x"),
        "kind": span.kind.name,
        "attributes": {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in (span.attributes or {}).items()
        },
        "links": [format(link.context.span_id, "016x") for link in span.links],
        "events": [event.name for event in span.events],
        "status": span.status.status_code.name,
        "description": span.status.description,
        "start": span.start_time,
        "end": span.end_time,
    }


def read_spans(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tree(spans: Sequence[dict[str, Any]]) -> str:
    """The spans as an indented text tree, children in start order (for messages)."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = {s["span_id"] for s in spans}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append("  " * depth + span["name"])
            walk(span["span_id"], depth + 1)

    for siblings in children.values():
        siblings.sort(key=lambda span: (span["start"], span["name"]))
    walk(None, 0)
    return "\n".join(lines)
