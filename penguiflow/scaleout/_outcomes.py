"""How a worker reports each job's outcome to its queue, counts it and logs it.

Reports never hold up the lane that ran the job. A completion is handed to the queue's
``complete_soon`` when it is a :class:`~penguiflow.scaleout.jobs.BatchingJobQueue`, else
``mark_complete`` runs in a task of its own; a failure (retry or fail) always runs in a
task. Either way the counters and the ``job_*`` log records follow what the queue
actually recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FlowError
from ._hooks import JOB_HOOKS, JobEvent
from .errors import JobTimeoutError, PermanentJobError
from .jobs import BatchingJobQueue, Job, JobDone, JobQueue, ReleasableJobQueue, RetryPolicy

__all__ = ["Outcomes", "WorkerStats"]

logger = logging.getLogger("penguiflow.worker")


@dataclass(slots=True)
class WorkerStats:
    """Counters of one worker (read them any time; they only grow).

    Attributes:
        fetched: jobs fetched.
        completed: jobs marked complete.
        retried: jobs sent back for another attempt.
        failed: jobs marked failed for good.
        timed_out: jobs that ran past their deadline (then retried or failed).
        handed_back: in-flight jobs returned to the queue at shutdown.
        report_errors: outcomes the queue failed to record (the job will be redelivered).
        flows_built: flows built by the factory.
    """

    fetched: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    timed_out: int = 0
    handed_back: int = 0
    report_errors: int = 0
    flows_built: int = 0


class Outcomes:
    """Reports the outcomes of one worker's jobs to ``queue``.

    Args:
        queue: where outcomes go.
        retry: when a failed attempt is retried.
        stats: the worker's counters, updated here.
        worker_id: identifies the worker in logs.
    """

    def __init__(
        self, queue: JobQueue, *, retry: RetryPolicy, stats: WorkerStats, worker_id: str
    ) -> None:
        self._queue = queue
        self._retry = retry
        self._stats = stats
        self.worker_id = worker_id
        self._complete_soon = (
            queue.complete_soon if isinstance(queue, BatchingJobQueue) else self._complete_in_task
        )
        self._reports: set[asyncio.Task[None]] = set()  # reports running in tasks
        # Completions handed over and not recorded yet: job id -> the job, its latency.
        self._completing: dict[str, tuple[Job, float]] = {}
        self._all_recorded = asyncio.Event()
        self._all_recorded.set()

    @property
    def pending(self) -> bool:
        """Outcomes are still being reported."""
        return bool(self._reports or self._completing)

    def log(self, level: int, event: str, job: Job, **fields: Any) -> None:
        """Log ``event`` with the job's id, trace, tenant, attempt and the worker's id."""
        if logger.isEnabledFor(level):
            extra = {
                "job_id": job.id,
                "trace_id": f"job-{job.id}",
                "tenant": job.tenant,
                "worker_id": self.worker_id,
                "attempt": job.attempts,
                **fields,
            }
            logger.log(level, event, extra=extra)

    def complete(self, job: Job, result: Any, latency: float) -> None:
        """Hand a success to the queue; it is counted and logged once recorded."""
        self._completing[job.id] = (job, latency)
        self._all_recorded.clear()
        try:
            self._complete_soon(job.id, result=result, latency_s=latency, on_done=self._recorded)
        except Exception as exc:
            self._recorded(job.id, exc)

    def fail(self, job: Job, exc: Exception) -> None:
        """Report a failed attempt (retried or failed for good per the retry policy)."""
        self._spawn(self._retry_or_fail(job, exc))

    async def hand_back(self, job: Job, reason: str) -> None:
        """Give a job back to the queue without counting an attempt (when it can)."""
        try:
            if isinstance(self._queue, ReleasableJobQueue):
                await self._queue.release(job.id, reason=reason)
            else:
                await self._queue.retry_job(job.id, delay_s=0.0, reason=reason)
        except Exception:
            self._stats.report_errors += 1
            self.log(logging.ERROR, "job_report_failed", job, outcome="hand_back")
            return
        self._stats.handed_back += 1
        _count("handed_back")
        self.log(logging.INFO, "job_handed_back", job, reason=reason)

    async def settle(self, timeout: float | None) -> None:
        """Wait for the outcomes being reported; cancel the reports still going after ``timeout``.

        Each cancelled report counts as a report error (its job will be redelivered).
        """
        try:
            async with asyncio.timeout(timeout):
                while self._reports or self._completing:
                    if self._reports:
                        await asyncio.wait(set(self._reports))
                    else:
                        await self._all_recorded.wait()
        except TimeoutError:
            if self._reports:
                logger.warning(
                    "job_reports_cancelled",
                    extra={"worker_id": self.worker_id, "jobs": len(self._reports)},
                )
                await self.cancel("worker shutdown: report took too long")
            if self._completing:
                logger.warning(
                    "job_reports_unsettled",
                    extra={"worker_id": self.worker_id, "jobs": len(self._completing)},
                )

    async def cancel(self, reason: str = "worker cancelled") -> None:
        """Cancel the reports still running and wait for them to end."""
        reports = list(self._reports)
        for report in reports:
            report.cancel(reason)
        await asyncio.gather(*reports, return_exceptions=True)

    # -- internals --------------------------------------------------------------------------

    def _spawn(self, report: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(report)
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    def _complete_in_task(
        self, job_id: str, *, result: Any, latency_s: float, on_done: JobDone
    ) -> None:
        """``complete_soon`` for a queue without it: ``mark_complete`` in a task."""

        async def mark_complete() -> None:
            try:
                await self._queue.mark_complete(job_id, result=result, latency_s=latency_s)
            except Exception as exc:
                on_done(job_id, exc)
                return
            except asyncio.CancelledError as exc:
                on_done(job_id, exc)
                raise
            on_done(job_id, None)

        self._spawn(mark_complete())

    def _recorded(self, job_id: str, error: BaseException | None) -> None:
        found = self._completing.pop(job_id, None)
        if not self._completing:
            self._all_recorded.set()
        if found is None:
            return
        job, latency = found
        if error is None:
            self._stats.completed += 1
            _count("completed")
            self.log(logging.INFO, "job_completed", job, latency_s=round(latency, 6))
        else:
            self._stats.report_errors += 1
            self.log(logging.ERROR, "job_report_failed", job, outcome="complete", error=repr(error))

    async def _retry_or_fail(self, job: Job, exc: Exception) -> None:
        reason = _reason(exc)
        if isinstance(exc, JobTimeoutError):
            self._stats.timed_out += 1
        try:
            if self._retry.should_retry(job, exc):
                delay = self._retry.backoff_for(job.attempts + 1)
                await self._queue.retry_job(job.id, delay_s=delay, reason=reason)
                self._stats.retried += 1
                _count("retried")
                self.log(logging.WARNING, "job_retry", job, reason=reason, delay_s=delay)
            else:
                await self._queue.mark_failed(job.id, reason=reason, details=_details(exc))
                self._stats.failed += 1
                _count("failed")
                self.log(logging.ERROR, "job_failed", job, reason=reason)
        except Exception:
            self._report_failed(job, reason)
        except asyncio.CancelledError:
            self._report_failed(job, reason)
            raise

    def _report_failed(self, job: Job, reason: str) -> None:
        self._stats.report_errors += 1
        self.log(logging.ERROR, "job_report_failed", job, outcome="failure", reason=reason)


def _count(event: JobEvent) -> None:
    hooks = JOB_HOOKS.jobs
    if hooks is not None:
        hooks.job_event(event)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FlowError) and isinstance(exc.__cause__, PermanentJobError):
        exc = exc.__cause__
    if isinstance(exc, JobTimeoutError):
        return "job_timeout"
    if isinstance(exc, FlowError):
        return f"flow_error:{exc.code.value}"
    if isinstance(exc, PermanentJobError):
        return f"permanent:{exc.reason}"
    return f"exception:{type(exc).__name__}"


def _details(exc: BaseException) -> Mapping[str, Any]:
    details: dict[str, Any] = {"exception_type": type(exc).__name__, "message": str(exc)[:500]}
    if isinstance(exc, FlowError):
        details.update(code=exc.code.value, node_name=exc.node_name, attempts=exc.attempts)
        cause = exc.metadata.get("exception_type")
        if cause:
            details["cause"] = cause
    return details
