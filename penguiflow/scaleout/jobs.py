"""The job contract shared by workers and queue adapters: ``Job``, ``JobQueue``, ``RetryPolicy``.

A queue implements :class:`JobQueue`; it may opt into three optional capabilities, each a
protocol of its own that the worker checks once, with ``isinstance``, when it is built:
:class:`ReleasableJobQueue` (``release``), :class:`ReadAheadJobQueue` (``fetch_nowait``)
and :class:`BatchingJobQueue` (``complete_soon``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ..backoff import backoff_delay, check_backoff
from ..errors import ConfigError, FlowError, FlowErrorCode, FlowStateError, UsageError
from .errors import PermanentJobError

__all__ = [
    "BatchingJobQueue",
    "Job",
    "JobDone",
    "JobQueue",
    "JobResult",
    "JobStatus",
    "ReadAheadJobQueue",
    "ReleasableJobQueue",
    "RetryPolicy",
    "default_retryable",
]


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work fetched from a queue; the worker runs it as one trace.

    Attributes:
        id: the job's id, unique while the job is queued; the trace is ``job-<id>``.
        tenant: the tenant the job belongs to (``Headers.tenant`` of its message).
        payload: the job's input (plain JSON for queues that cross processes).
        attempts: how many times the job was attempted before this delivery (0 at first).
        meta: queue-specific details (enqueue time, last failure reason...).
    """

    id: str
    tenant: str
    payload: dict[str, Any]
    attempts: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class JobQueue(Protocol):
    """What a worker needs from a queue. Delivery is at least once: jobs must be retry-safe."""

    async def fetch(self) -> Job | None:
        """Return the next job, or ``None`` when none arrived within the queue's poll time."""
        ...

    async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
        """Record the job's result and remove it from the queue."""
        ...

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        """Deliver the job again after ``delay_s`` seconds, counting one more attempt."""
        ...

    async def mark_failed(
        self, job_id: str, *, reason: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record that the job failed for good and remove it from the queue."""
        ...


@runtime_checkable
class ReleasableJobQueue(JobQueue, Protocol):
    """Optional capability: take a job back without counting an attempt (graceful shutdown).

    Without it, the worker hands a job back with ``retry_job(job_id, delay_s=0, ...)``,
    which counts an attempt.
    """

    async def release(self, job_id: str, *, reason: str) -> None:
        """Make the job available to other workers at once; its attempt count is unchanged."""
        ...


@runtime_checkable
class ReadAheadJobQueue(JobQueue, Protocol):
    """Optional capability: hand out jobs this process already read, without waiting.

    A queue that reads several jobs per round trip keeps the extra ones in the process;
    the worker takes them with :meth:`fetch_nowait` and calls ``fetch`` only when it
    returns ``None``. Implement it only where it hands out the same jobs ``fetch`` would.
    """

    def fetch_nowait(self) -> Job | None:
        """A job ready in this process, or ``None`` at once (then call ``fetch``)."""
        ...


JobDone = Callable[[str, BaseException | None], None]
"""``on_done(job_id, error)`` of :meth:`BatchingJobQueue.complete_soon`: ``error`` is
``None`` once the completion is recorded."""


@runtime_checkable
class BatchingJobQueue(JobQueue, Protocol):
    """Optional capability: record a completion without making the caller wait for it.

    The worker hands each finished job over with :meth:`complete_soon` and goes on with
    its next job; the queue records completions in batches (one round trip for many).
    ``complete_soon`` must have the effect of ``mark_complete``: a subclass that changes
    ``mark_complete`` must change ``complete_soon`` too (or have it call
    ``mark_complete``).
    """

    def complete_soon(
        self,
        job_id: str,
        *,
        result: Any,
        latency_s: float,
        on_done: JobDone,
    ) -> None:
        """Record the job's result and remove it soon; then ``on_done(job_id, error or None)``."""
        ...


_NOT_RETRYABLE_CODES = frozenset({FlowErrorCode.VALIDATION_FAILED})


def default_retryable(exc: BaseException) -> bool:
    """Whether a job failing with ``exc`` is worth another attempt.

    ``PermanentJobError``, usage errors (bad code or configuration), raised directly or
    by a node, and payloads that failed validation are not; everything else (node
    failures, timeouts, backend errors, a flow stopped under the job) is.
    """
    if isinstance(exc, FlowError):
        if exc.code in _NOT_RETRYABLE_CODES:
            return False
        exc = exc.__cause__ or exc  # a node's own exception, wrapped by the runtime
    if isinstance(exc, FlowStateError):
        return True  # the flow died under the job (a stopped shared flow): a new one may do
    return not isinstance(exc, PermanentJobError | UsageError)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When and how soon a failed job is tried again.

    A failed attempt is retried while fewer than ``max_attempts`` attempts were made and
    ``retryable(exc)`` holds; otherwise the job is marked failed. Retry ``n`` (1 for the
    first) waits ``min(backoff_base * backoff_mult ** (n - 1), max_backoff)`` seconds.

    Attributes:
        max_attempts: most attempts of one job, the first included (``>= 1``).
        backoff_base: seconds before the first retry.
        backoff_mult: growth of the wait per retry (``>= 1``).
        max_backoff: the longest wait in seconds (``None`` for no cap).
        retryable: decides whether a failure is worth retrying (see
            :func:`default_retryable`).
        backoff_base_s: deprecated name of ``backoff_base``.
        max_backoff_s: deprecated name of ``max_backoff``.
    """

    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_mult: float = 2.0
    max_backoff: float | None = 60.0
    retryable: Callable[[BaseException], bool] = default_retryable
    backoff_base_s: InitVar[float | None] = None
    max_backoff_s: InitVar[float | None] = None

    def __post_init__(self, backoff_base_s: float | None, max_backoff_s: float | None) -> None:
        for old, new, value in (
            ("backoff_base_s", "backoff_base", backoff_base_s),
            ("max_backoff_s", "max_backoff", max_backoff_s),
        ):
            if value is not None:
                warnings.warn(
                    f"RetryPolicy({old}=...) is deprecated; use {new}=...",
                    DeprecationWarning,
                    stacklevel=3,
                )
                object.__setattr__(self, new, value)
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ConfigError(
                f"RetryPolicy.max_attempts must be an int >= 1, got {self.max_attempts!r}"
            )
        if self.max_attempts < 1:
            raise ConfigError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        check_backoff(
            "RetryPolicy",
            backoff_base=self.backoff_base,
            backoff_mult=self.backoff_mult,
            max_backoff=self.max_backoff,
        )
        if not callable(self.retryable):
            raise ConfigError("RetryPolicy.retryable must be a callable(exc) -> bool")

    def backoff_for(self, retry_number: int) -> float:
        """Return the wait before retry ``retry_number`` (1 for the first retry)."""
        return backoff_delay(
            retry_number,
            backoff_base=self.backoff_base,
            backoff_mult=self.backoff_mult,
            max_backoff=self.max_backoff,
        )

    def should_retry(self, job: Job, exc: BaseException) -> bool:
        """Whether ``job``, whose current attempt failed with ``exc``, gets another attempt."""
        return job.attempts + 1 < self.max_attempts and bool(self.retryable(exc))


JobStatus = Literal["completed", "failed"]


@dataclass(frozen=True, slots=True)
class JobResult:
    """How a job ended, as recorded by a queue.

    Attributes:
        job_id: the job.
        status: ``completed`` or ``failed``.
        result: the job's result (``completed``), as JSON for queues that cross processes.
        reason: why it failed (``failed``).
        details: more about the failure (exception type, error code...).
        latency_s: how long the successful attempt took.
        attempts: attempts made, the last one included.
    """

    job_id: str
    status: JobStatus
    result: Any = None
    reason: str | None = None
    details: Mapping[str, Any] | None = None
    latency_s: float | None = None
    attempts: int = 0
