"""The runtime's telemetry: node spans, queue gauges, trace-context propagation, log ids.

Installed as ``penguiflow._hooks.HOOKS.runtime``. A node span's parent is the context
its trace entered the flow in (captured by the runtime with :meth:`capture`), not
whatever the worker task that runs it happened to inherit.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .._execute import Failure
from .._lifecycle import FlowState
from ..errors import FlowError
from ..signals import FlowSignal
from . import _names as n
from ._signals import Signals

if TYPE_CHECKING:
    from ..flow import PenguiFlow

__all__ = ["PROPAGATOR", "RuntimeTelemetry"]

PROPAGATOR = TraceContextTextMapPropagator()
"""Reads and writes W3C ``traceparent`` / ``tracestate`` headers."""


class _NodeSpan:
    """The span of one message in one node, and the attempts that failed in it."""

    __slots__ = ("failures", "signals", "span")

    def __init__(self, signals: Signals, span: Span) -> None:
        self.signals = signals
        self.span = span
        self.failures = 0

    def ended(self, outcome: Any) -> None:
        span = self.span
        if type(outcome) is not Failure:
            span.set_attribute(n.NODE_ATTEMPTS, self.failures + 1)
            return
        error = outcome.error
        if isinstance(error, FlowSignal):  # a control signal (a pause), not a failure
            span.set_attribute("penguiflow.node.signal", type(error).__name__)
            return
        if isinstance(error, FlowError):
            span.set_attribute(n.NODE_ATTEMPTS, error.attempts or self.failures + 1)
            self.signals.fail(span, error.code.value, error)
        else:
            self.signals.fail(span, type(error).__qualname__, error)


_CURRENT_NODE: ContextVar[_NodeSpan | None] = ContextVar("penguiflow_node_span", default=None)


class RuntimeTelemetry:
    """Implements the runtime's hooks (``penguiflow._hooks.RuntimeHooks``).

    Args:
        signals: the tracer and instruments.
    """

    def __init__(self, signals: Signals) -> None:
        self._signals = signals
        self._flows: weakref.WeakSet[PenguiFlow] = weakref.WeakSet()
        signals.meter.create_observable_gauge(
            n.QUEUE_DEPTH,
            callbacks=[self._queue_depths],
            unit="{message}",
            description="Messages waiting in a node's queue (summed over running flows).",
        )
        signals.meter.create_observable_gauge(
            n.IN_FLIGHT,
            callbacks=[self._in_flight],
            unit="{message}",
            description="Messages a node is handling now (summed over running flows).",
        )

    # -- spans ----------------------------------------------------------------------------

    def capture(self) -> object:
        """The current trace context."""
        return otel_context.get_current()

    @contextlib.contextmanager
    def node(self, node: str, trace_id: str | None, parent: object) -> Iterator[_NodeSpan]:
        """A span around one message run through ``node``."""
        context = parent if isinstance(parent, otel_context.Context) else otel_context.Context()
        attributes = {n.NODE_NAME: node}
        if trace_id is not None:
            attributes[n.FLOW_TRACE] = trace_id
        with self._signals.span(f"node {node}", attributes=attributes, parent=context) as span:
            run = _NodeSpan(self._signals, span)
            token = _CURRENT_NODE.set(run)
            try:
                yield run
            finally:
                _CURRENT_NODE.reset(token)

    def attempt_failed(self, attempt: int, error_type: str, timed_out: bool) -> None:
        """Note a failed attempt on the current node span (a retry may follow)."""
        run = _CURRENT_NODE.get()
        if run is None:
            return
        run.failures += 1
        run.span.add_event(
            "attempt_failed",
            {"penguiflow.node.attempt": attempt, n.ERROR_TYPE: error_type, "timed_out": timed_out},
        )

    # -- propagation and logs -------------------------------------------------------------

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        """Write the current trace context into ``carrier``."""
        PROPAGATOR.inject(carrier)

    @contextlib.contextmanager
    def attached(self, carrier: Mapping[str, str]) -> Iterator[None]:
        """Make ``carrier``'s context current in the block, unless a span already is."""
        if trace.get_current_span().get_span_context().is_valid:
            yield
            return
        token = otel_context.attach(PROPAGATOR.extract(carrier))
        try:
            yield
        finally:
            otel_context.detach(token)

    def log_ids(self) -> tuple[str, str] | None:
        """The current span's ids in hex, or ``None``."""
        found = trace.get_current_span().get_span_context()
        if not found.is_valid:
            return None
        return trace.format_trace_id(found.trace_id), trace.format_span_id(found.span_id)

    # -- gauges ---------------------------------------------------------------------------

    def flow_started(self, flow: PenguiFlow) -> None:
        """Observe ``flow``'s queues and workers while it runs."""
        self._flows.add(flow)

    def _per_node(self, field: str) -> list[Observation]:
        totals: dict[str, int] = {}
        for flow in list(self._flows):
            if flow.state is not FlowState.RUNNING:
                continue
            try:
                nodes = flow.stats().nodes
            except RuntimeError:  # read from the exporter's thread while the loop changed it
                continue
            for name, stats in nodes.items():
                totals[name] = totals.get(name, 0) + getattr(stats, field)
        return [Observation(value, {n.NODE_NAME: name}) for name, value in totals.items()]

    def _queue_depths(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._per_node("queue_depth")

    def _in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._per_node("busy")
