"""``InMemoryJobQueue``: a ``JobQueue`` in process memory, for tests and single-process use."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError
from ._hooks import job_meta
from .jobs import Job, JobResult

__all__ = ["InMemoryJobQueue"]


class InMemoryJobQueue:
    """A ``JobQueue`` kept in memory: retries with delays, hand-backs and recorded results.

    It implements the base contract and ``release``
    (:class:`~penguiflow.scaleout.jobs.ReleasableJobQueue`). Nothing survives the
    process, and jobs are not redelivered if the process dies: use
    :class:`~penguiflow.scaleout.redis_queue.RedisJobQueue` across processes.

    Args:
        poll_s: how long ``fetch`` waits for a job before returning ``None``.
    """

    def __init__(self, *, poll_s: float = 0.5) -> None:
        if not isinstance(poll_s, int | float) or poll_s < 0:
            raise ConfigError(f"InMemoryJobQueue(poll_s=...) must be >= 0, got {poll_s!r}")
        self._poll_s = float(poll_s)
        self._ready: deque[Job] = deque()
        self._delayed: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._in_flight: dict[str, Job] = {}
        self._results: dict[str, JobResult] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._wakeup = asyncio.Event()
        self.history: list[tuple[str, str, str]] = []
        """``(job_id, action, reason)`` for every retry, failure, release and completion."""

    async def enqueue(
        self,
        payload: Mapping[str, Any],
        *,
        tenant: str = "default",
        job_id: str | None = None,
        delay_s: float = 0.0,
    ) -> str:
        """Add a job and return its id.

        Args:
            payload: the job's input.
            tenant: the job's tenant.
            job_id: an id of your choice (default: a random hex id).
            delay_s: deliver it no earlier than this many seconds from now.
        """
        job = Job(
            id=job_id or uuid.uuid4().hex, tenant=tenant, payload=dict(payload), meta=job_meta()
        )
        self._finished.setdefault(job.id, asyncio.Event())
        self._schedule(job, delay_s)
        return job.id

    def _schedule(self, job: Job, delay_s: float) -> None:
        if delay_s > 0:
            heapq.heappush(self._delayed, (time.monotonic() + delay_s, next(self._seq), job))
        else:
            self._ready.append(job)
        self._wakeup.set()

    def _promote(self) -> float | None:
        """Move due delayed jobs to the ready queue; return seconds until the next one."""
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._ready.append(heapq.heappop(self._delayed)[2])
        return self._delayed[0][0] - now if self._delayed else None

    async def fetch(self) -> Job | None:
        """Return the next ready job, waiting up to ``poll_s``; ``None`` if none came."""
        deadline = time.monotonic() + self._poll_s
        while True:
            next_due = self._promote()
            if self._ready:
                job = self._ready.popleft()
                self._in_flight[job.id] = job
                return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._wakeup.clear()
            wait = remaining if next_due is None else min(remaining, next_due)
            try:
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    def _take(self, job_id: str) -> Job:
        job = self._in_flight.pop(job_id, None)
        if job is None:
            raise ConfigError(
                f"job {job_id!r} is not in flight in this queue; fetch it before reporting it"
            )
        return job

    def _finish(self, result: JobResult) -> None:
        self._results[result.job_id] = result
        self._finished.setdefault(result.job_id, asyncio.Event()).set()

    async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
        """Record the job's result."""
        job = self._take(job_id)
        self.history.append((job_id, "completed", ""))
        self._finish(
            JobResult(
                job_id=job_id,
                status="completed",
                result=result,
                latency_s=latency_s,
                attempts=job.attempts + 1,
            )
        )

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        """Deliver the job again after ``delay_s`` seconds with one more attempt counted."""
        job = self._take(job_id)
        self.history.append((job_id, "retry", reason))
        meta = {**job.meta, "last_error": reason}
        self._schedule(replace(job, attempts=job.attempts + 1, meta=meta), delay_s)

    async def mark_failed(
        self, job_id: str, *, reason: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record that the job failed for good."""
        job = self._take(job_id)
        self.history.append((job_id, "failed", reason))
        self._finish(
            JobResult(
                job_id=job_id,
                status="failed",
                reason=reason,
                details=dict(details or {}),
                attempts=job.attempts + 1,
            )
        )

    async def release(self, job_id: str, *, reason: str) -> None:
        """Put the job back at the front of the queue, its attempt count unchanged."""
        job = self._take(job_id)
        self.history.append((job_id, "released", reason))
        self._ready.appendleft(job)
        self._wakeup.set()

    async def get_result(self, job_id: str) -> JobResult | None:
        """Return how the job ended, or ``None`` while it has not."""
        return self._results.get(job_id)

    async def wait_result(self, job_id: str, *, timeout_s: float | None = None) -> JobResult:
        """Wait until the job completes or fails for good.

        Raises:
            TimeoutError: ``timeout_s`` passed first.
        """
        event = self._finished.setdefault(job_id, asyncio.Event())
        async with asyncio.timeout(timeout_s):
            await event.wait()
        return self._results[job_id]

    @property
    def depth(self) -> int:
        """Jobs waiting to be fetched (ready or delayed)."""
        return len(self._ready) + len(self._delayed)

    @property
    def in_flight(self) -> int:
        """Jobs fetched and not yet reported."""
        return len(self._in_flight)
