"""The queue workers' telemetry: a span per job attempt, counters of job outcomes.

Installed as ``penguiflow.scaleout._hooks.JOB_HOOKS.jobs``. A job enqueued inside a span
carries that span's ``traceparent`` in its ``meta``; the worker's span is its child, so
the job's run (node spans, a planner run) joins the trace of the code that enqueued it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from ..scaleout._hooks import JobEvent
from ..scaleout.jobs import Job
from . import _names as n
from ._runtime import PROPAGATOR
from ._signals import Signals

__all__ = ["JobTelemetry"]

_HEADERS = ("traceparent", "tracestate")


class JobTelemetry:
    """Implements the workers' hooks (``penguiflow.scaleout._hooks.JobHooks``).

    Args:
        signals: the tracer and instruments.
    """

    def __init__(self, signals: Signals) -> None:
        self._signals = signals

    @contextlib.contextmanager
    def job(self, job: Job, worker_id: str) -> Iterator[None]:
        """A ``process job`` span around one attempt of ``job``."""
        carrier = {k: v for k in _HEADERS if isinstance(v := job.meta.get(k), str)}
        parent = PROPAGATOR.extract(carrier) if carrier else None
        attributes: dict[str, AttributeValue] = {
            n.MESSAGING_OPERATION: "process",
            n.MESSAGE_ID: job.id,
            n.JOB_ID: job.id,
            n.JOB_ATTEMPT: job.attempts,
            n.TENANT: job.tenant,
            n.WORKER_ID: worker_id,
        }
        with self._signals.span(
            "process job", kind=SpanKind.CONSUMER, attributes=attributes, parent=parent
        ):
            yield

    def job_event(self, event: JobEvent) -> None:
        """Count ``event`` (``fetched``, ``completed``, ``retried``, ``failed``...)."""
        self._signals.worker_jobs.add(1, {n.JOB_EVENT: event})
