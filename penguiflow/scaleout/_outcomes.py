"""How a worker reports each job's outcome to its queue, counts it and logs it.

A completion handed to a :class:`~penguiflow.scaleout.jobs.BatchingJobQueue` is settled later,
in the queue's next round trip; any other report runs in a task beside the lane's next
job (or in the caller's task for ``Worker.process``). Either way the counters and the
``job_*`` log records follow what the queue actually recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FlowError
from .errors import JobTimeoutError, PermanentJobError
from .jobs import BatchingJobQueue, Job, JobQueue, ReleasableJobQueue, RetryPolicy, may_use

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
        self._complete_soon: Callable[..., None] | None = None
        if isinstance(queue, BatchingJobQueue) and may_use(
            queue, "complete_soon", instead_of="mark_complete"
        ):
            self._complete_soon = queue.complete_soon
        self._reports: set[asyncio.Task[None]] = set()  # outcomes being reported
        # Completions handed to a batching queue and not settled yet: job id -> the job
        # and its latency (for the log).
        self._completing: dict[str, tuple[Job, float]] = {}
        self._on_settled = self._settled  # one bound method for every completion
        self._all_settled = asyncio.Event()
        self._all_settled.set()

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

    async def complete(self, job: Job, result: Any, latency: float, *, wait: bool) -> None:
        """Report a success: now (``wait``), or beside the caller's next job."""
        await self._report(self._mark_complete(job, result, latency), wait)

    def complete_soon(self, job: Job, result: Any, latency: float) -> bool:
        """Hand a success to a batching queue without waiting; ``False`` if it is not one."""
        complete_soon = self._complete_soon
        if complete_soon is None:
            return False
        completing = self._completing
        if not completing:
            self._all_settled.clear()
        completing[job.id] = (job, latency)
        try:
            complete_soon(job.id, result=result, latency_s=latency, on_done=self._on_settled)
        except Exception as exc:
            self._settled(job.id, exc)
        return True

    async def fail(self, job: Job, exc: Exception, *, wait: bool) -> None:
        """Report a failed attempt (retried or failed for good per the retry policy)."""
        await self._report(self._retry_or_fail(job, exc), wait)

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
        self.log(logging.INFO, "job_handed_back", job, reason=reason)

    async def settle(self, timeout: float) -> None:
        """Wait for the outcomes being reported; cancel those still going after ``timeout``."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        if self._reports:
            _, late = await asyncio.wait(set(self._reports), timeout=timeout)
            for report in late:
                report.cancel("worker shutdown: report took too long")
            if late:
                await asyncio.gather(*late, return_exceptions=True)
                self._stats.report_errors += len(late)  # those jobs will be redelivered
                logger.warning(
                    "job_reports_cancelled", extra={"worker_id": self.worker_id, "jobs": len(late)}
                )
        if self._completing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_settled.wait(), max(until - loop.time(), 0.0))
            if self._completing:
                logger.warning(
                    "job_reports_unsettled",
                    extra={"worker_id": self.worker_id, "jobs": len(self._completing)},
                )

    async def cancel(self) -> None:
        """Cancel the reports still running (the worker itself was cancelled)."""
        for report in self._reports:
            report.cancel("worker cancelled")
        await asyncio.gather(*self._reports, return_exceptions=True)

    # -- internals --------------------------------------------------------------------------

    async def _report(self, report: Coroutine[Any, Any, None], wait: bool) -> None:
        if wait:
            await report
            return
        task = asyncio.create_task(report)
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _mark_complete(self, job: Job, result: Any, latency: float) -> None:
        try:
            await self._queue.mark_complete(job.id, result=result, latency_s=latency)
        except Exception as exc:
            self._completed(job, latency, exc)
        else:
            self._completed(job, latency, None)

    def _settled(self, job_id: str, error: BaseException | None) -> None:
        completing = self._completing
        found = completing.pop(job_id, None)
        if not completing:
            self._all_settled.set()
        if found is not None:
            self._completed(found[0], found[1], error)

    def _completed(self, job: Job, latency: float, error: BaseException | None) -> None:
        if error is None:
            self._stats.completed += 1
            if logger.isEnabledFor(logging.INFO):
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
                self.log(logging.WARNING, "job_retry", job, reason=reason, delay_s=delay)
            else:
                await self._queue.mark_failed(job.id, reason=reason, details=_details(exc))
                self._stats.failed += 1
                self.log(logging.ERROR, "job_failed", job, reason=reason)
        except Exception:
            self._stats.report_errors += 1
            self.log(logging.ERROR, "job_report_failed", job, outcome="failure", reason=reason)


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
