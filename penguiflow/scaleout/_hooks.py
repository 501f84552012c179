"""Instrumentation hooks of the queue workers: empty until ``penguiflow.telemetry`` fills them.

Like the runtime's (:mod:`penguiflow._hooks`), each place that could report something
reads ``JOB_HOOKS.jobs`` once and does nothing more while it is ``None``.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from .._hooks import current_carrier
from .jobs import Job

__all__ = ["JOB_HOOKS", "JobEvent", "JobHooks", "JobHooksSlot", "job_meta"]

JobEvent = Literal["fetched", "completed", "retried", "failed", "handed_back"]
"""What happened to a job, as counted by the ``penguiflow.worker.jobs`` metric."""


class JobHooks(Protocol):
    """What a worker reports while telemetry is on."""

    def job(self, job: Job, worker_id: str) -> AbstractContextManager[None]:
        """A span around one attempt of ``job``, a child of the trace that enqueued it."""
        ...

    def job_event(self, event: JobEvent) -> None:
        """Count ``event`` for one job."""
        ...


class JobHooksSlot:
    """The installed hooks (one instance, :data:`JOB_HOOKS`).

    Attributes:
        jobs: the workers' hooks, or ``None`` when telemetry is off.
    """

    __slots__ = ("jobs",)

    def __init__(self) -> None:
        self.jobs: JobHooks | None = None


JOB_HOOKS = JobHooksSlot()
"""The hooks workers read; ``penguiflow.telemetry`` sets ``JOB_HOOKS.jobs``."""


def job_meta() -> dict[str, Any]:
    """The ``meta`` of a job being enqueued: when, and the trace it was enqueued in.

    With telemetry on, the W3C ``traceparent`` of the enqueuing code goes with the job,
    so the span of the worker that runs it joins that trace.
    """
    meta: dict[str, Any] = {"enqueued_at": time.time()}
    carrier = current_carrier()
    if carrier:
        meta.update(carrier)
    return meta
