"""How the Redis job queue encodes jobs and results, and validates its numbers."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_jsonable_python
from pydantic_core import to_json as _to_json_bytes

from ..errors import ConfigError
from .jobs import Job, JobResult, JobStatus

__all__ = [
    "QueueCounts",
    "counts_from",
    "decode_job",
    "decode_result",
    "encode_job",
    "encode_result",
    "entries",
    "job_of",
    "load_json",
    "positive",
    "to_json",
    "with_deliveries",
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
    """Compact JSON; pydantic models are dumped, unknown objects become their ``repr``.

    Non-ASCII text is written as UTF-8, not escaped.
    """
    try:
        return _to_json_bytes(value, fallback=repr).decode()
    except PydanticSerializationError:  # lone surrogates: json escapes them
        return json.dumps(to_jsonable_python(value, fallback=repr), separators=(",", ":"))


def load_json(raw: str | bytes) -> Any:
    """Parse JSON (the fast parser first; the standard one for what it refuses)."""
    try:
        return from_json(raw)
    except ValueError:
        return json.loads(raw)


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


def decode_job(record: str, delivered: int) -> Job:
    """The job of a stream record read for the ``delivered``-th time.

    Raises:
        ValueError: the record is not a job (``KeyError`` and ``TypeError`` too).
    """
    data = load_json(record)
    job_id = str(data["id"])  # first: a record that is not an object fails here
    payload = data.get("payload") or {}
    meta = data.get("meta") or {}
    return Job(  # the parsed dicts are fresh: no copies needed
        id=job_id,
        tenant=str(data.get("tenant") or "default"),
        payload=payload if type(payload) is dict else dict(payload),
        attempts=int(data.get("attempts", 0)) + max(delivered - 1, 0),
        meta=meta if type(meta) is dict else dict(meta),
    )


def with_deliveries(record: str, delivered: int) -> str:
    """``record`` with the deliveries of a reclaimed entry counted as attempts."""
    if delivered <= 1:
        return record
    try:
        job = decode_job(record, delivered)
    except (ValueError, KeyError, TypeError):
        return record
    return encode_job(job.id, job.tenant, job.payload, job.attempts, job.meta)


def _job_field(fields: Any) -> str:
    if isinstance(fields, Mapping):
        return str(fields.get("job", ""))
    for i in range(0, len(fields or ()) - 1, 2):  # a flat [field, value, ...] list
        if fields[i] == "job":
            return str(fields[i + 1])
    return ""


def entries(reply: Any) -> list[tuple[str, str]]:
    """``(entry id, job record)`` of an ``XREADGROUP`` reply.

    Accepts redis-py's reply in RESP2 (a list of streams) and RESP3 (a map), with the
    fields as a dict or a flat list.
    """
    if not reply:
        return []
    groups = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    return [(str(entry_id), _job_field(fields)) for group in groups for entry_id, fields in group]


def encode_result(
    job_id: str,
    status: JobStatus,
    *,
    attempts: int,
    result: Any = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    latency_s: float | None = None,
) -> str:
    """The stored record of how a job ended (read back by :func:`decode_result`)."""
    return to_json(
        {
            "job_id": job_id,
            "status": status,
            "result": result,
            "reason": reason,
            "details": dict(details) if details is not None else None,
            "latency_s": latency_s,
            "attempts": attempts,
            "finished_at": time.time(),
        }
    )


def decode_result(raw: str | bytes) -> JobResult:
    """Read a stored result record."""
    data = load_json(raw)
    return JobResult(
        job_id=data["job_id"],
        status=data["status"],
        result=data.get("result"),
        reason=data.get("reason"),
        details=data.get("details"),
        latency_s=data.get("latency_s"),
        attempts=int(data.get("attempts", 0)),
    )
