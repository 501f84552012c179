"""Instrumentation hooks of the runtime: empty until ``penguiflow.telemetry`` fills them.

The runtime never imports a tracing library. Where it could report a span, it reads
``HOOKS.runtime`` once; while that is ``None`` (telemetry off) nothing else happens, so
instrumentation costs one attribute test on the hot path. ``penguiflow.telemetry``
installs an object implementing :class:`RuntimeHooks` there.

Trace context crosses processes as W3C trace-context headers (``traceparent`` and,
when there is one, ``tracestate``) in a plain ``dict[str, str]``: the job envelope of a
queue, the HTTP headers of a remote call, the stored state of a paused run.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .flow import PenguiFlow

__all__ = ["HOOKS", "Hooks", "NodeSpan", "RuntimeHooks", "current_carrier"]


class NodeSpan(Protocol):
    """The span of one message run through one node."""

    def ended(self, outcome: Any) -> None:
        """Record how the message ended: the node's result, ``None`` or a ``Failure``."""
        ...


class RuntimeHooks(Protocol):
    """What the runtime reports while telemetry is on."""

    def capture(self) -> object:
        """The current trace context, kept with a trace for work that runs later."""
        ...

    def node(
        self, node: str, trace_id: str | None, parent: object
    ) -> AbstractContextManager[NodeSpan]:
        """A span around one message run through ``node``, current while it runs.

        Args:
            node: the node's name.
            trace_id: the message's trace in the flow.
            parent: what :meth:`capture` returned when the trace entered the flow, or
                ``None`` (a root span).
        """
        ...

    def attempt_failed(self, attempt: int, error_type: str, timed_out: bool) -> None:
        """An attempt of the current node run failed (a retry may follow)."""
        ...

    def flow_started(self, flow: PenguiFlow) -> None:
        """``flow`` started: its queues and workers are now observed (gauges)."""
        ...

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        """Write the current trace context into ``carrier`` (``traceparent``...)."""
        ...

    def attached(self, carrier: Mapping[str, str]) -> AbstractContextManager[None]:
        """Make the context of ``carrier`` current inside the block, if no span is."""
        ...

    def log_ids(self) -> tuple[str, str] | None:
        """The current ``(trace_id, span_id)`` as hex, or ``None`` outside any span."""
        ...


class Hooks:
    """The installed hooks (one instance, :data:`HOOKS`).

    Attributes:
        runtime: the runtime's hooks, or ``None`` when telemetry is off.
    """

    __slots__ = ("runtime",)

    def __init__(self) -> None:
        self.runtime: RuntimeHooks | None = None


HOOKS = Hooks()
"""The hooks the runtime reads; ``penguiflow.telemetry`` sets ``HOOKS.runtime``."""


def current_carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers, or ``None`` when telemetry is off."""
    hooks = HOOKS.runtime
    if hooks is None:
        return None
    carrier: dict[str, str] = {}
    hooks.inject(carrier)
    return carrier or None
