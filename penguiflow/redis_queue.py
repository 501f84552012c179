"""``RedisJobQueue``: a :class:`~penguiflow.worker.JobQueue` on Redis Streams.

Jobs are entries of one stream read through a consumer group, so each job goes to one
worker at a time. A fetched job stays in the group's pending list until the worker
settles it (complete, retry, fail or hand back), each in one atomic script that first
checks the worker still owns the entry. While a job runs, the worker's queue renews its
lease; a job whose worker died stops being renewed and, after ``visibility_timeout_s``,
is reclaimed (``XAUTOCLAIM``) by another worker: at-least-once delivery. A job delivered
more than ``max_deliveries`` times (a job that kills its workers) is failed.

Keys (``{name}`` is a Redis Cluster hash tag, so one queue lives on one shard)::

    <prefix>:{<name>}:stream     jobs (consumer group <group>)
    <prefix>:{<name>}:delayed    sorted set of jobs waiting for a retry delay
    <prefix>:{<name>}:result:<job id>   how each job ended (expires after results_ttl_s)
    <prefix>:{<name>}:dead       stream of failed jobs (bounded)
    <prefix>:{<name>}:stats      counters

redis-py (``redis.asyncio``) is imported when a queue is created.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, cast

from pydantic_core import to_jsonable_python

from . import _redis_scripts as scripts
from ._jobs import Job, JobResult
from ._scaleout_errors import QueueBackendError
from .errors import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["QueueCounts", "RedisJobQueue"]

logger = logging.getLogger("penguiflow.worker")


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
        released: jobs handed back at shutdown.
    """

    ready: int
    pending: int
    delayed: int
    completed: int
    failed: int
    retried: int
    released: int


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
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


def _json(value: Any) -> str:
    return json.dumps(to_jsonable_python(value, fallback=repr), separators=(",", ":"))


class RedisJobQueue:
    """A job queue on a Redis stream with a consumer group (Redis >= 6.2).

    Args:
        url: a ``redis://`` URL; the queue opens and closes its own client.
        client: a ``redis.asyncio.Redis`` created with ``decode_responses=True``
            (exclusive with ``url``); the queue does not close it.
        name: the queue's name; workers sharing a name share the jobs.
        prefix: the prefix of every key.
        group: the consumer group of the workers.
        consumer: this worker's name in the group (default: host-pid-random; must be
            unique among live workers).
        visibility_timeout_s: how long a job may go without a lease renewal before
            another worker reclaims it. Renewals happen every third of it.
        block_s: how long ``fetch`` waits for a job before returning ``None``.
        max_deliveries: a job delivered this many times without being settled is failed
            (``None``: never).
        results_ttl_s: how long job results are kept.
        dead_letter_maxlen: about how many failed jobs the dead-letter stream keeps.

    Raises:
        ConfigError: a bad argument.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        name: str = "default",
        prefix: str = "penguiflow:jobs",
        group: str = "workers",
        consumer: str | None = None,
        visibility_timeout_s: float = 30.0,
        block_s: float = 1.0,
        max_deliveries: int | None = 10,
        results_ttl_s: float = 86_400.0,
        dead_letter_maxlen: int = 10_000,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigError(
                "RedisJobQueue needs exactly one of url='redis://host:6379/0' or client=Redis(...)"
            )
        if not name or not isinstance(name, str) or any(c in name for c in "{}"):
            raise ConfigError(
                f"RedisJobQueue(name=...) must be a non-empty string without braces, got {name!r}"
            )
        if max_deliveries is not None and (
            isinstance(max_deliveries, bool)
            or not isinstance(max_deliveries, int)
            or max_deliveries < 1
        ):
            raise ConfigError(
                "RedisJobQueue(max_deliveries=...) must be an int >= 1 or None, "
                f"got {max_deliveries!r}"
            )
        self._visibility_ms = int(_positive("visibility_timeout_s", visibility_timeout_s) * 1000)
        self._block_ms = int(_positive("block_s", block_s, allow_zero=True) * 1000)
        self._ttl_s = max(1, int(_positive("results_ttl_s", results_ttl_s)))
        self._dead_maxlen = int(_positive("dead_letter_maxlen", dead_letter_maxlen))
        self._max_deliveries = max_deliveries
        if client is None:
            from redis.asyncio import Redis as _Redis

            client = _Redis.from_url(cast(str, url), decode_responses=True)
            self._owns_client = True
        else:
            self._owns_client = False
        self._redis: Redis = client
        self.name = name
        base = f"{prefix}:{{{name}}}"
        self._stream = f"{base}:stream"
        self._delayed = f"{base}:delayed"
        self._dead = f"{base}:dead"
        self._stats = f"{base}:stats"
        self._result_prefix = f"{base}:result:"
        self._group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._scripts = {
            key: client.register_script(getattr(scripts, key))
            for key in ("COMPLETE", "FAIL", "HEARTBEAT", "PROMOTE", "RECLAIM", "REQUEUE")
        }
        self._inflight: dict[str, tuple[str, Job]] = {}
        self._group_ready = False
        self._cursor = "0-0"
        self._next_reclaim = 0.0
        self._next_promote = 0.0
        self._reclaim_every = min(self._visibility_ms / 2000, 5.0)
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _backend(self, operation: str) -> AsyncIterator[None]:
        from redis.exceptions import RedisError

        if self._closed:
            raise ConfigError(f"RedisJobQueue {self.name!r} is closed; create a new one")
        try:
            yield
        except RedisError as exc:
            raise QueueBackendError(operation, self.name, f"{type(exc).__name__}: {exc}") from exc

    async def _call(self, awaitable: Awaitable[Any] | Any) -> Any:
        return await awaitable

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        from redis.exceptions import ResponseError

        try:
            await self._call(
                self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[script](keys=keys, args=args)

    def _result_key(self, job_id: str) -> str:
        return self._result_prefix + job_id

    # -- producing ------------------------------------------------------------------------

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
            payload: the job's input (plain JSON).
            tenant: the job's tenant.
            job_id: an id of your choice, unique while queued (default: random hex).
            delay_s: deliver it no earlier than this many seconds from now.

        Raises:
            QueueBackendError: Redis failed.
        """
        job_id = job_id or uuid.uuid4().hex
        record = _json(
            {
                "id": job_id,
                "tenant": tenant,
                "payload": dict(payload),
                "attempts": 0,
                "meta": {"enqueued_at": time.time()},
            }
        )
        async with self._backend("enqueue"):
            await self._ensure_group()
            if delay_s > 0:
                due_ms = int((time.time() + delay_s) * 1000)
                await self._call(self._redis.zadd(self._delayed, {record: due_ms}))
            else:
                await self._call(self._redis.xadd(self._stream, {"job": record}))
        return job_id

    async def enqueue_many(
        self, payloads: list[Mapping[str, Any]], *, tenant: str = "default"
    ) -> list[str]:
        """Add many jobs in one round trip; returns their ids in order."""
        ids = [uuid.uuid4().hex for _ in payloads]
        async with self._backend("enqueue"):
            await self._ensure_group()
            pipe = self._redis.pipeline(transaction=False)
            for job_id, payload in zip(ids, payloads, strict=True):
                record = _json(
                    {
                        "id": job_id,
                        "tenant": tenant,
                        "payload": dict(payload),
                        "attempts": 0,
                        "meta": {"enqueued_at": time.time()},
                    }
                )
                pipe.xadd(self._stream, {"job": record})
            await pipe.execute()
        return ids

    # -- consuming ------------------------------------------------------------------------

    async def fetch(self) -> Job | None:
        """Return the next job (a reclaimed one first), or ``None`` after ``block_s``.

        Raises:
            QueueBackendError: Redis failed.
        """
        async with self._backend("fetch"):
            await self._ensure_group()
            self._start_heartbeat()
            now = time.monotonic()
            if now >= self._next_promote:
                self._next_promote = now + 0.2
                await self._run("PROMOTE", [self._delayed, self._stream], [100])
            if now >= self._next_reclaim:
                job = await self._reclaim()
                if job is not None:
                    return job
                self._next_reclaim = now + self._reclaim_every
            from redis.exceptions import ResponseError

            try:
                reply = await self._call(
                    self._redis.xreadgroup(
                        self._group,
                        self.consumer,
                        {self._stream: ">"},
                        count=1,
                        block=self._block_ms or None,
                    )
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False  # the stream was deleted: recreate on the next call
                return None
        entry = _first_entry(reply)
        if entry is None:
            return None
        entry_id, fields = entry
        return await self._accept(entry_id, fields.get("job", ""), delivered=1)

    async def _reclaim(self) -> Job | None:
        cursor, entry_id, record, delivered = await self._run(
            "RECLAIM",
            [self._stream],
            [self._group, self.consumer, self._visibility_ms, self._cursor],
        )
        self._cursor = str(cursor)
        if not entry_id:
            return None
        self._next_reclaim = 0.0  # there may be more dead workers' jobs: look again next time
        logger.warning(
            "job_reclaimed",
            extra={"queue": self.name, "entry_id": entry_id, "delivered": int(delivered)},
        )
        return await self._accept(str(entry_id), str(record), delivered=int(delivered))

    async def _accept(self, entry_id: str, record: str, *, delivered: int) -> Job | None:
        try:
            data = json.loads(record)
            job = Job(
                id=str(data["id"]),
                tenant=str(data.get("tenant") or "default"),
                payload=dict(data.get("payload") or {}),
                attempts=int(data.get("attempts", 0)) + max(delivered - 1, 0),
                meta=dict(data.get("meta") or {}),
            )
        except (ValueError, KeyError, TypeError):
            logger.error("job_unreadable", extra={"queue": self.name, "entry_id": entry_id})
            job = Job(id=f"unreadable-{entry_id}", tenant="default", payload={})
            self._inflight[job.id] = (entry_id, job)
            await self.mark_failed(job.id, reason="unreadable_job", details={"entry_id": entry_id})
            return None
        self._inflight[job.id] = (entry_id, job)
        if self._max_deliveries is not None and job.attempts >= self._max_deliveries:
            await self.mark_failed(
                job.id,
                reason="max_deliveries_exceeded",
                details={"attempts": job.attempts, "max_deliveries": self._max_deliveries},
            )
            return None
        return job

    def _take(self, job_id: str) -> tuple[str, Job]:
        found = self._inflight.pop(job_id, None)
        if found is None:
            raise ConfigError(
                f"job {job_id!r} is not in flight for consumer {self.consumer!r}; "
                "only the worker that fetched a job can settle it"
            )
        return found

    def _settled(self, ok: Any, job: Job, outcome: str) -> None:
        if not ok:
            logger.warning(
                "job_lease_lost",
                extra={
                    "queue": self.name,
                    "job_id": job.id,
                    "outcome": outcome,
                    "consumer": self.consumer,
                },
            )

    async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
        """Store the job's result and remove it, if this worker still owns it.

        A worker whose lease was lost (the job was reclaimed by another worker) changes
        nothing; the event is logged as ``job_lease_lost``.
        """
        entry_id, job = self._take(job_id)
        record = JobResult(
            job_id=job_id,
            status="completed",
            result=result,
            latency_s=latency_s,
            attempts=job.attempts + 1,
        )
        async with self._backend("mark_complete"):
            ok = await self._run(
                "COMPLETE",
                [self._stream, self._result_key(job_id), self._stats],
                [self._group, self.consumer, entry_id, _encode_result(record), self._ttl_s],
            )
        self._settled(ok, job, "complete")

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        """Deliver the job again after ``delay_s`` seconds, with one more attempt counted."""
        entry_id, job = self._take(job_id)
        await self._requeue(entry_id, job, job.attempts + 1, delay_s, reason, "retried")

    async def release(self, job_id: str, *, reason: str) -> None:
        """Hand the job back at once, without counting an attempt (graceful shutdown)."""
        entry_id, job = self._take(job_id)
        await self._requeue(entry_id, job, job.attempts, 0.0, reason, "released")

    async def _requeue(
        self, entry_id: str, job: Job, attempts: int, delay_s: float, reason: str, stat: str
    ) -> None:
        record = _json(
            {
                "id": job.id,
                "tenant": job.tenant,
                "payload": job.payload,
                "attempts": attempts,
                "meta": {**job.meta, "last_error": reason},
            }
        )
        async with self._backend(stat):
            ok = await self._run(
                "REQUEUE",
                [self._stream, self._delayed, self._stats],
                [self._group, self.consumer, entry_id, record, int(max(delay_s, 0.0) * 1000), stat],
            )
        self._settled(ok, job, stat)

    async def mark_failed(
        self, job_id: str, *, reason: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record the failure, add the job to the dead-letter stream and remove it."""
        entry_id, job = self._take(job_id)
        record = JobResult(
            job_id=job_id,
            status="failed",
            reason=reason,
            details=dict(details or {}),
            attempts=job.attempts + 1,
        )
        async with self._backend("mark_failed"):
            ok = await self._run(
                "FAIL",
                [self._stream, self._result_key(job_id), self._dead, self._stats],
                [
                    self._group,
                    self.consumer,
                    entry_id,
                    _encode_result(record),
                    self._ttl_s,
                    self._dead_maxlen,
                ],
            )
        self._settled(ok, job, "failed")

    # -- leases ---------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(
                self._renew_leases(), name=f"penguiflow-lease-{self.name}"
            )

    async def _renew_leases(self) -> None:
        from redis.exceptions import RedisError

        interval = self._visibility_ms / 3000
        while True:
            await asyncio.sleep(interval)
            entries = {entry_id: job for entry_id, job in self._inflight.values()}
            if not entries:
                continue
            try:
                lost = await self._run(
                    "HEARTBEAT", [self._stream], [self._group, self.consumer, *entries]
                )
            except RedisError:
                logger.warning(
                    "job_lease_renewal_failed", exc_info=True, extra={"queue": self.name}
                )
                continue
            for entry_id in lost or ():
                job = entries.get(entry_id)
                logger.warning(
                    "job_lease_lost",
                    extra={
                        "queue": self.name,
                        "job_id": job.id if job else None,
                        "entry_id": entry_id,
                    },
                )

    # -- inspection -----------------------------------------------------------------------

    async def get_result(self, job_id: str) -> JobResult | None:
        """Return how the job ended, or ``None`` if it has not (or its result expired)."""
        async with self._backend("get_result"):
            raw = await self._call(self._redis.get(self._result_key(job_id)))
        return None if raw is None else _decode_result(raw)

    async def wait_result(
        self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 0.05
    ) -> JobResult:
        """Poll until the job completes or fails for good.

        Raises:
            TimeoutError: ``timeout_s`` passed first.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                found = await self.get_result(job_id)
                if found is not None:
                    return found
                await asyncio.sleep(poll_s)

    async def counts(self) -> QueueCounts:
        """Return how many jobs are ready, pending and delayed, and the lifetime counters."""
        async with self._backend("counts"):
            await self._ensure_group()
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self._stream)
            pipe.xpending(self._stream, self._group)
            pipe.zcard(self._delayed)
            pipe.hgetall(self._stats)
            length, pending, delayed, stats = await pipe.execute()
        pending_count = int(pending["pending"] if isinstance(pending, dict) else pending[0])
        stats = {k: int(v) for k, v in (stats or {}).items()}
        return QueueCounts(
            ready=int(length) - pending_count,
            pending=pending_count,
            delayed=int(delayed),
            completed=stats.get("completed", 0),
            failed=stats.get("failed", 0),
            retried=stats.get("retried", 0),
            released=stats.get("released", 0),
        )

    async def dead_letters(self, *, count: int = 100) -> list[JobResult]:
        """Return up to ``count`` of the most recent failed jobs, newest first."""
        async with self._backend("dead_letters"):
            entries = await self._call(self._redis.xrevrange(self._dead, count=count))
        return [_decode_result(fields["record"]) for _, fields in entries]

    async def purge(self) -> None:
        """Delete every key of this queue (jobs, results, counters). For tests and resets."""
        async with self._backend("purge"):
            keys = [self._stream, self._delayed, self._dead, self._stats]
            async for key in self._redis.scan_iter(match=self._result_prefix + "*"):
                keys.append(key)
            await self._call(self._redis.delete(*keys))
        self._group_ready = False
        self._inflight.clear()

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop renewing leases and close the client if the queue opened it; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisJobQueue(name={self.name!r}, consumer={self.consumer!r})"


def _first_entry(reply: Any) -> tuple[str, dict[str, str]] | None:
    """The one entry of an ``XREADGROUP ... COUNT 1`` reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return None
    groups = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    for entries in groups:
        if entries:
            entry_id, fields = entries[0]
            return str(entry_id), dict(fields or {})
    return None


def _encode_result(result: JobResult) -> str:
    return _json(
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


def _decode_result(raw: str) -> JobResult:
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
