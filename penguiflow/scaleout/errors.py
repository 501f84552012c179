"""Errors of the scale-out layer: workers, queues, the Redis adapters and remote agents.

They hang under the runtime's tree (:mod:`penguiflow.errors`)::

    PenguiFlowError
    └── RunError
        ├── PermanentJobError      a job failed in a way retrying cannot fix: fail it now
        ├── JobTimeoutError        (also TimeoutError) a job ran past its deadline
        ├── JobCancelledError      a job's own code cancelled the task running it
        ├── QueueBackendError      the queue's backend (Redis) failed an operation
        └── RemoteCallError        a remote agent failed, refused or cancelled the call
            └── RemoteTimeoutError (also TimeoutError) the remote call ran past timeout_s

Bad arguments raise the runtime's ``ConfigError``. Every error pickles with its fields,
so it can cross a process boundary (a worker reporting to a queue, for example).
"""

from __future__ import annotations

from typing import Any

from ..errors import RunError

__all__ = [
    "JobCancelledError",
    "JobTimeoutError",
    "PermanentJobError",
    "QueueBackendError",
    "RemoteCallError",
    "RemoteTimeoutError",
]


class PermanentJobError(RunError):
    """Raise from a node to fail the current job at once, without retries.

    Attributes:
        reason: why the job cannot succeed (stored with the failed job; no secrets).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PermanentJobError, (self.reason,))


class JobCancelledError(RunError):
    """A job's own code cancelled the task running it (not the worker, not a deadline).

    The attempt counts as failed and is retried like any failure.

    Attributes:
        job_id: the job.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} was cancelled by its own code, not by the worker")

    def __reduce__(self) -> tuple[Any, ...]:
        return (JobCancelledError, (self.job_id,))


class JobTimeoutError(RunError, TimeoutError):
    """A job ran past its deadline; its trace was cancelled.

    Attributes:
        job_id: the job.
        trace_id: the job's trace (``job-<id>``).
        timeout_s: the job's time budget in seconds.
    """

    def __init__(self, job_id: str, trace_id: str, timeout_s: float) -> None:
        self.job_id = job_id
        self.trace_id = trace_id
        self.timeout_s = timeout_s
        super().__init__(
            f"job {job_id} (trace {trace_id}) ran past its {timeout_s:g}s deadline; "
            "raise Worker(job_timeout_s=...) if the job legitimately needs longer"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (JobTimeoutError, (self.job_id, self.trace_id, self.timeout_s))


class QueueBackendError(RunError):
    """The queue's backend failed an operation (connection lost, server error).

    Attributes:
        operation: what the queue was doing (``fetch``, ``mark_complete``...).
        queue: the queue's name.
        detail: the backend's error, without credentials.
    """

    def __init__(self, operation: str, queue: str, detail: str) -> None:
        self.operation = operation
        self.queue = queue
        self.detail = detail
        super().__init__(f"queue {queue!r}: {operation} failed: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.queue, self.detail))


class RemoteCallError(RunError):
    """A remote agent failed, refused or cancelled a call.

    Attributes:
        agent_url: the agent's base URL.
        detail: what went wrong.
        task_id: the remote run, when one was started.
        status_code: the HTTP status, when the agent answered with an error status.
    """

    def __init__(
        self,
        agent_url: str,
        detail: str,
        *,
        task_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.agent_url = agent_url
        self.detail = detail
        self.task_id = task_id
        self.status_code = status_code
        where = f" (task {task_id})" if task_id else ""
        status = f" [HTTP {status_code}]" if status_code is not None else ""
        super().__init__(f"remote agent {agent_url}{where}{status}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_remote,
            (type(self), self.agent_url, self.detail, self.task_id, self.status_code),
        )


class RemoteTimeoutError(RemoteCallError, TimeoutError):
    """A remote call ran past its ``timeout_s``; the remote run was asked to cancel."""


def _rebuild_remote(
    cls: type[RemoteCallError],
    agent_url: str,
    detail: str,
    task_id: str | None,
    status_code: int | None,
) -> RemoteCallError:
    return cls(agent_url, detail, task_id=task_id, status_code=status_code)
