"""How the Redis job queue encodes jobs and results, and validates its numbers."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from ._jobs import Job, JobResult
from .errors import ConfigError

__all__ = [
    "QueueCounts",
    "counts_from",
    "decode_result",
    "encode_job",
    "encode_result",
    "entries",
    "job_of",
    "positive",
    "to_json",
]


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A snapshot of a queue.

    Attributes:
        ready: jobs in the stream not yet delivered to any worker.
        pending: jobs delivered to a worker and not settled yet.
        delayed: jobs waiting for their retry delay.
        completed: jobs completed since the queue was created.
        failed: jobs failed for good.
        retried: retries scheduled.
        released: jobs handed back (shutdown, unstarted prefetched jobs).
    """

    ready: int
    pending: int
    delayed: int
    completed: int
    failed: int
    retried: int
    released: int


def counts_from(length: Any, pending: Any, delayed: Any, stats: Any) -> QueueCounts:
    """Build :class:`QueueCounts` from ``XLEN``, ``XPENDING``, ``ZCARD`` and ``HGETALL``."""
    pending_count = int(pending["pending"] if isinstance(pending, dict) else pending[0])
    totals = {k: int(v) for k, v in (stats or {}).items()}
    return QueueCounts(
        ready=int(length) - pending_count,
        pending=pending_count,
        delayed=int(delayed),
        completed=totals.get("completed", 0),
        failed=totals.get("failed", 0),
        retried=totals.get("retried", 0),
        released=totals.get("released", 0),
    )


def positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Check a ``RedisJobQueue`` number argument and return it as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        rule = ">= 0" if allow_zero else "> 0"
        raise ConfigError(
            f"RedisJobQueue({name}=...) must be a finite number {rule}, got {value!r}"
        )
    return float(value)


def to_json(value: Any) -> str:
    """Compact JSON; pydantic models are dumped, unknown objects become their ``repr``."""
    return json.dumps(to_jsonable_python(value, fallback=repr), separators=(",", ":"))


def encode_job(
    job_id: str,
    tenant: str,
    payload: Mapping[str, Any],
    attempts: int,
    meta: Mapping[str, Any] | None = None,
) -> str:
    """The stream record of a job."""
    meta = dict(meta) if meta is not None else {"enqueued_at": time.time()}
    return to_json(
        {
            "id": job_id,
            "tenant": tenant,
            "payload": dict(payload),
            "attempts": attempts,
            "meta": meta,
        }
    )


def job_of(job: Job, attempts: int, reason: str) -> str:
    """The record of ``job`` sent back to the queue with ``attempts`` and a last error."""
    return encode_job(job.id, job.tenant, job.payload, attempts, {**job.meta, "last_error": reason})


def entries(reply: Any) -> list[tuple[str, str]]:
    """``(entry id, job record)`` of an ``XREADGROUP`` reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    groups = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    return [
        (str(entry_id), str((fields or {}).get("job", "")))
        for group in groups
        for entry_id, fields in group
    ]


def encode_result(result: JobResult) -> str:
    """The stored record of how a job ended."""
    return to_json(
        {
            "job_id": result.job_id,
            "status": result.status,
            "result": result.result,
            "reason": result.reason,
            "details": dict(result.details) if result.details is not None else None,
            "latency_s": result.latency_s,
            "attempts": result.attempts,
            "finished_at": time.time(),
        }
    )


def decode_result(raw: str) -> JobResult:
    """Read a stored result record."""
    data = json.loads(raw)
    return JobResult(
        job_id=data["job_id"],
        status=data["status"],
        result=data.get("result"),
        reason=data.get("reason"),
        details=data.get("details"),
        latency_s=data.get("latency_s"),
        attempts=int(data.get("attempts", 0)),
    )
