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
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Self, cast

from . import _redis_scripts as scripts
from ._jobs import Job, JobResult
from ._redis_batch import ScriptBatcher, renew_leases
from ._redis_client import open_client
from ._redis_codec import (
    QueueCounts,
    counts_from,
    decode_result,
    encode_job,
    encode_result,
    entries,
    job_of,
    positive,
)
from ._scaleout_errors import QueueBackendError
from .errors import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["QueueCounts", "RedisJobQueue"]

logger = logging.getLogger("penguiflow.worker")


class RedisJobQueue:
    """A job queue on a Redis stream with a consumer group (Redis >= 6.2).

    Args:
        url: a ``redis://`` URL; the queue opens and closes its own client.
        client: a ``redis.asyncio.Redis`` created with ``decode_responses=True`` and
            ``socket_timeout=None`` (exclusive with ``url``); the queue does not close
            it. (With a socket timeout, redis-py sends through ``asyncio.wait_for``, which
            on Python 3.11 can lose a cancellation; the queue bounds its calls itself.)
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
        max_connections: size of the connection pool opened for ``url`` (callers wait
            for a free connection); a worker needs about ``concurrency + 2``.
        command_timeout_s: the longest a queue operation may wait for Redis (beyond
            ``block_s`` for ``fetch``) before it fails with ``QueueBackendError``.
        prefetch: jobs read from Redis per round trip; the extra ones wait in this
            process (leased, their leases renewed) until ``fetch`` hands them out.
            Raise it for many short jobs; keep 1 for long jobs so idle workers get
            them. ``aclose()`` hands unstarted prefetched jobs back.

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
        max_connections: int = 50,
        command_timeout_s: float = 10.0,
        prefetch: int = 1,
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
        self._visibility_ms = int(positive("visibility_timeout_s", visibility_timeout_s) * 1000)
        self._block_ms = int(positive("block_s", block_s, allow_zero=True) * 1000)
        self._ttl_s = max(1, int(positive("results_ttl_s", results_ttl_s)))
        self._dead_maxlen = int(positive("dead_letter_maxlen", dead_letter_maxlen))
        self._command_timeout_s = positive("command_timeout_s", command_timeout_s)
        self._max_deliveries = max_deliveries
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ConfigError(f"RedisJobQueue(prefetch=...) must be an int >= 1, got {prefetch!r}")
        self._prefetch = prefetch
        self._buffer: deque[tuple[str, str]] = deque()
        if client is None:
            client = open_client(
                cast(str, url), max_connections=max_connections, owner="RedisJobQueue"
            )
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
        self._batcher = ScriptBatcher(
            client,
            self._scripts,
            timeout_s=self._command_timeout_s,
            complete_keys=[self._stream, self._stats],
            complete_args=[self._group, self.consumer, self._ttl_s],
        )
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
    async def _backend(self, operation: str, *, extra_s: float = 0.0) -> AsyncIterator[None]:
        """Bound a group of Redis calls in time and translate Redis errors."""
        from redis.exceptions import RedisError

        if self._closed:
            raise ConfigError(f"RedisJobQueue {self.name!r} is closed; create a new one")
        limit = asyncio.timeout(self._command_timeout_s + extra_s)
        try:
            async with limit:
                yield
        except RedisError as exc:
            raise QueueBackendError(operation, self.name, f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            if not limit.expired():
                raise
            detail = f"no answer within command_timeout_s={self._command_timeout_s:g}"
            raise QueueBackendError(operation, self.name, detail) from exc

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
        for name in ("COMPLETE", "FAIL", "REQUEUE"):  # settled through pipelines (EVALSHA)
            await self._call(self._redis.script_load(getattr(scripts, name)))
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
        record = encode_job(job_id, tenant, payload, 0)
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
                pipe.xadd(self._stream, {"job": encode_job(job_id, tenant, payload, 0)})
            await pipe.execute()
        return ids

    # -- consuming ------------------------------------------------------------------------

    async def fetch(self) -> Job | None:
        """Return the next job (a reclaimed one first), or ``None`` after ``block_s``.

        Raises:
            QueueBackendError: Redis failed.
        """
        job = await self._from_buffer()
        if job is not None:
            return job
        async with self._backend("fetch", extra_s=self._block_ms / 1000):
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
                streams: dict[Any, Any] = {self._stream: ">"}
                block = self._block_ms or None
                read = self._redis.xreadgroup(
                    self._group, self.consumer, streams, count=self._prefetch, block=block
                )
                reply = await self._call(read)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                self._group_ready = False  # the stream was deleted: recreate on the next call
                return None
        self._buffer.extend(entries(reply))
        return await self._from_buffer()

    async def _from_buffer(self) -> Job | None:
        while self._buffer:
            entry_id, record = self._buffer.popleft()
            job = await self._accept(entry_id, record, delivered=1)
            if job is not None:
                return job
        return None

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
            ok = await self._batcher.call(
                "COMPLETE", [self._result_key(job_id)], [entry_id, encode_result(record)]
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
        record = job_of(job, attempts, reason)
        async with self._backend(stat):
            ok = await self._batcher.call(
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
            ok = await self._batcher.call(
                "FAIL",
                [self._stream, self._result_key(job_id), self._dead, self._stats],
                [
                    self._group,
                    self.consumer,
                    entry_id,
                    encode_result(record),
                    self._ttl_s,
                    self._dead_maxlen,
                ],
            )
        self._settled(ok, job, "failed")

    # -- leases ---------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            renew = renew_leases(
                self._scripts["HEARTBEAT"],
                keys=[self._stream],
                args=[self._group, self.consumer],
                interval_s=self._visibility_ms / 3000,
                timeout_s=self._command_timeout_s,
                queue=self.name,
                leased=self._leased,
            )
            self._heartbeat = asyncio.create_task(renew, name=f"penguiflow-lease-{self.name}")

    def _leased(self) -> dict[str, Job | None]:
        """Entries this worker holds: running jobs and unstarted prefetched ones."""
        leased: dict[str, Job | None] = {e: job for e, job in self._inflight.values()}
        leased.update((entry_id, None) for entry_id, _ in self._buffer)
        return leased

    # -- inspection -----------------------------------------------------------------------

    async def get_result(self, job_id: str) -> JobResult | None:
        """Return how the job ended, or ``None`` if it has not (or its result expired)."""
        async with self._backend("get_result"):
            raw = await self._call(self._redis.get(self._result_key(job_id)))
        return None if raw is None else decode_result(raw)

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
            replies = await pipe.execute()
        return counts_from(*replies)

    async def dead_letters(self, *, count: int = 100) -> list[JobResult]:
        """Return up to ``count`` of the most recent failed jobs, newest first."""
        async with self._backend("dead_letters"):
            entries = await self._call(self._redis.xrevrange(self._dead, count=count))
        return [decode_result(fields["record"]) for _, fields in entries]

    async def purge(self) -> None:
        """Delete every key of this queue (jobs, results, counters). For tests and resets."""
        async with self._backend("purge"):
            keys = [self._stream, self._delayed, self._dead, self._stats]
            async for key in self._redis.scan_iter(match=self._result_prefix + "*"):
                keys.append(key)
            await self._call(self._redis.delete(*keys))
        self._group_ready = False
        self._inflight.clear()
        self._buffer.clear()

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Hand prefetched jobs back, stop renewing leases, close an owned client; idempotent."""
        if self._closed:
            return
        buffered, self._buffer = list(self._buffer), deque()
        if buffered:
            try:
                async with self._backend("release"):
                    for entry_id, record in buffered:
                        await self._run(
                            "REQUEUE",
                            [self._stream, self._delayed, self._stats],
                            [self._group, self.consumer, entry_id, record, 0, "released"],
                        )
            except QueueBackendError:
                logger.warning(
                    "prefetched jobs not handed back; they are reclaimed after the "
                    "visibility timeout",
                    extra={"queue": self.name, "jobs": len(buffered)},
                )
        self._closed = True
        await self._batcher.aclose()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisJobQueue(name={self.name!r}, consumer={self.consumer!r})"
