"""Scale-out: queue workers, the job queue contract, the Redis queue and bus, remote nodes.

The names below import without Redis or httpx; :class:`RedisJobQueue`,
:class:`RedisMessageBus` and the remote transport load their clients when they are used::

    from penguiflow.scaleout import RedisJobQueue, RetryPolicy, Worker
"""

from __future__ import annotations

from .errors import (
    JobCancelledError,
    JobTimeoutError,
    PermanentJobError,
    QueueBackendError,
    RemoteCallError,
    RemoteTimeoutError,
)
from .jobs import Job, JobQueue, JobResult, JobStatus, RetryPolicy
from .memory_queue import InMemoryJobQueue
from .redis_bus import RedisMessageBus
from .redis_queue import RedisJobQueue
from .remote import HttpRemoteTransport, RemoteNode
from .worker import Worker, WorkerMode, WorkerStats

__all__ = [
    "HttpRemoteTransport",
    "InMemoryJobQueue",
    "Job",
    "JobCancelledError",
    "JobQueue",
    "JobResult",
    "JobStatus",
    "JobTimeoutError",
    "PermanentJobError",
    "QueueBackendError",
    "RedisJobQueue",
    "RedisMessageBus",
    "RemoteCallError",
    "RemoteNode",
    "RemoteTimeoutError",
    "RetryPolicy",
    "Worker",
    "WorkerMode",
    "WorkerStats",
]
