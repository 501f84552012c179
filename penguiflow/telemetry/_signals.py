"""What every part of the telemetry shares: a tracer, the instruments, the content rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from .. import __version__
from . import _names as n
from ._content import ContentMasker

__all__ = ["Signals", "error_type_of"]

_SCOPE = "penguiflow"


def error_type_of(exc: BaseException) -> str:
    """The ``error.type`` of an exception: its class name, ``cancelled`` for a cancel."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    code = getattr(exc, "code", None)
    value = getattr(code, "value", None)  # a FlowError's code names the failure best
    return value if isinstance(value, str) else type(exc).__qualname__


class Signals:
    """A tracer and penguiflow's instruments, from the given providers or the global ones.

    Attributes:
        tracer: makes penguiflow's spans.
        meter: makes penguiflow's instruments (the observable gauges are made elsewhere).
        content: masks the content recorded on spans; ``None`` when content is not captured.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        capture_content: bool,
    ) -> None:
        tracers = tracer_provider or trace.get_tracer_provider()
        meters = meter_provider or metrics.get_meter_provider()
        self.tracer = tracers.get_tracer(_SCOPE, __version__)
        self.meter = meter = meters.get_meter(_SCOPE, __version__)
        self.content = ContentMasker() if capture_content else None
        self.token_usage = meter.create_histogram(
            n.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(n.TOKEN_BUCKETS),
        )
        self.operation_duration = meter.create_histogram(
            n.OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )
        self.run_duration = meter.create_histogram(
            n.RUN_DURATION,
            unit="s",
            description="Time a planner run worked in this process, by how it ended.",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )
        self.tool_duration = meter.create_histogram(
            n.TOOL_DURATION,
            unit="s",
            description="Duration of tool calls (error.type set on failures).",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )
        self.tool_errors = meter.create_counter(
            n.TOOL_ERRORS, unit="{error}", description="Tool calls that failed."
        )
        self.pending_pauses = meter.create_up_down_counter(
            n.PENDING_PAUSES,
            unit="{pause}",
            description="Pauses committed and not resumed yet (summed over processes).",
        )
        self.worker_jobs = meter.create_counter(
            n.WORKER_JOBS,
            unit="{job}",
            description="Queue jobs fetched, completed, retried, failed or handed back.",
        )

    @contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: otel_context.Context | None = None,
        links: Sequence[Link] = (),
    ) -> Iterator[Span]:
        """A span current inside the block; an exception leaving it marks it failed.

        Only the exception's type is recorded (``error.type``): its message may hold
        what content rules keep out, so it is added (masked) only when content is
        captured.
        """
        with self.tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                self.fail(span, error_type_of(exc), exc)
                raise

    def fail(self, span: Span, error_type: str, exc: BaseException | str | None = None) -> None:
        """Mark ``span`` failed with ``error_type`` (and a masked message, with content)."""
        span.set_attribute(n.ERROR_TYPE, error_type)
        description = None
        if self.content is not None and exc is not None:
            description = self.content.text(str(exc))[:500] or None
        span.set_status(Status(StatusCode.ERROR, description))

    def json(self, value: Any) -> str:
        """``value`` masked, as JSON text (only called when content is captured)."""
        assert self.content is not None
        return self.content.json(value)
