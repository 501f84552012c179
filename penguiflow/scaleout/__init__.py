"""Scale-out: queue workers, the job queue contract, the Redis queue and bus, remote nodes.

Everything here imports without the optional extras. :class:`RedisJobQueue` and
:class:`RedisMessageBus` need the ``redis`` extra (``pip install 'penguiflow[redis]'``)
and are loaded on first use; without it, using them raises an ``ImportError`` naming
the extra. The remote transport loads httpx when it is used::

    from penguiflow.scaleout import RedisJobQueue, RetryPolicy, Worker
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    JobCancelledError,
    JobTimeoutError,
    PermanentJobError,
    QueueBackendError,
    RemoteCallError,
    RemoteTimeoutError,
)
from .jobs import (
    BatchingJobQueue,
    Job,
    JobQueue,
    JobResult,
    JobStatus,
    ReadAheadJobQueue,
    ReleasableJobQueue,
    RetryPolicy,
)
from .memory_queue import InMemoryJobQueue
from .remote import HttpRemoteTransport, RemoteNode
from .worker import Worker, WorkerMode, WorkerStats

if TYPE_CHECKING:
    from .redis_bus import RedisMessageBus
    from .redis_queue import RedisJobQueue

__all__ = [
    "BatchingJobQueue",
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
    "ReadAheadJobQueue",
    "RedisJobQueue",
    "RedisMessageBus",
    "ReleasableJobQueue",
    "RemoteCallError",
    "RemoteNode",
    "RemoteTimeoutError",
    "RetryPolicy",
    "Worker",
    "WorkerMode",
    "WorkerStats",
]


def __getattr__(name: str) -> Any:
    """Load the Redis adapters on first use (they need the ``redis`` extra)."""
    if name == "RedisJobQueue":
        from .redis_queue import RedisJobQueue

        return RedisJobQueue
    if name == "RedisMessageBus":
        from .redis_bus import RedisMessageBus

        return RedisMessageBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
