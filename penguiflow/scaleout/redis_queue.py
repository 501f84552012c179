"""``RedisJobQueue``: a :class:`~penguiflow.scaleout.worker.JobQueue` on Redis Streams.

Jobs are entries of one stream read through a consumer group, so each job goes to one
worker at a time. A fetched job stays in the group's pending list until the worker
settles it (complete, retry, fail or hand back), each in one atomic script that first
checks the worker still owns the entry. While a job runs, the worker's queue renews its
lease; a job whose worker died stops being renewed and, after ``visibility_timeout_s``,
is reclaimed (``XAUTOCLAIM``) by another worker: at-least-once delivery. A job delivered
more than ``max_deliveries`` times (a job that kills its workers) is failed.

The queue's own traffic (settlements, non-blocking reads, lease renewals) goes through
one kept connection, and commands issued close together share a round trip
(:mod:`penguiflow.scaleout._redis_batch`); blocking reads, producers and inspection use the pool.

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
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Self, cast

from ..errors import ConfigError
from ._redis_batch import Exchange, renew_leases
from ._redis_client import open_client
from ._redis_codec import (
    QueueCounts,
    counts_from,
    decode_job,
    decode_result,
    encode_job,
    encode_result,
    entries,
    job_of,
    positive,
)
from ._redis_link import Command, Link
from ._redis_reader import Entry, Reader
from ._redis_scripts import SHA, SOURCES
from .errors import QueueBackendError
from .jobs import Job, JobDone, JobResult

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["QueueCounts", "RedisJobQueue"]

logger = logging.getLogger("penguiflow.worker")

_LINGER_S = 0.005
"""With ``prefetch > 1``, how long a completion may wait for a round trip made anyway."""


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
            for a free connection). A worker uses two: one the queue keeps for its round
            trips, one for blocking reads.
        command_timeout_s: the longest one round trip to Redis may take (beyond
            ``block_s`` for a blocking read) before the call fails with
            ``QueueBackendError``; a settlement issued while another round trip is under
            way waits for that one first.
        prefetch: jobs read from Redis per round trip; the extra ones wait in this
            process (leased, their leases renewed) until ``fetch`` hands them out. Above
            1, a completion also waits up to 5 ms for the next read, to share its round
            trip, and the round trips that complete jobs read as many new ones as were
            handed out (at most ``prefetch - 1`` wait). Raise it for many short jobs;
            keep 1 for long jobs so idle workers get them. ``aclose()`` hands unstarted
            prefetched jobs back.

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
        if client is None:
            client = open_client(
                cast(str, url), max_connections=max_connections, owner="RedisJobQueue"
            )
            self._owns_client = True
        else:
            if not hasattr(client, "connection_pool"):  # the queue keeps one of its connections
                raise ConfigError(
                    "RedisJobQueue(client=...) must be a redis.asyncio.Redis with a connection "
                    f"pool, got {type(client).__name__}"
                )
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
        self._link = Link(
            client,
            scripts={SHA[key]: source for key, source in SOURCES.items()},
            timeout_s=self._command_timeout_s,
        )
        self._exchange = Exchange(
            self._link,
            complete_sha=SHA["COMPLETE"],
            complete_keys=[self._stream, self._stats],
            on_settled=self._completion_settled,
            complete_args=[self._group, self.consumer, self._ttl_s],
            # Short jobs (prefetch > 1): a completion waits a little for the read of the
            # next jobs, so that one round trip serves a whole batch.
            linger_s=min(_LINGER_S, self._visibility_ms / 10_000) if prefetch > 1 else None,
        )
        self._reader = Reader(
            self._exchange,
            stream=self._stream,
            delayed=self._delayed,
            group=self._group,
            consumer=self.consumer,
            prefetch=prefetch,
            visibility_ms=self._visibility_ms,
            queue=name,
        )
        if prefetch > 1:  # completions bring back as many jobs as were handed out
            self._exchange.top_up = self._reader.top_up
        self._inflight: dict[str, tuple[str, Job]] = {}
        self._group_ready = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _backend(self, operation: str, *, extra_s: float = 0.0) -> AsyncIterator[None]:
        """Bound a group of Redis calls in time and translate Redis errors."""
        from redis.exceptions import RedisError

        self._check_open()
        limit = asyncio.timeout(self._command_timeout_s + extra_s)
        try:
            async with limit:
                yield
        except RedisError as exc:
            raise self._error(operation, exc) from exc
        except TimeoutError as exc:
            if not limit.expired():
                raise
            detail = f"no answer within command_timeout_s={self._command_timeout_s:g}"
            raise QueueBackendError(operation, self.name, detail) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError(f"RedisJobQueue {self.name!r} is closed; create a new one")

    def _error(self, operation: str, exc: BaseException) -> QueueBackendError:
        return QueueBackendError(operation, self.name, f"{type(exc).__name__}: {exc}")

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

    def _script(self, name: str, keys: list[str], args: list[str | int]) -> Command:
        return ("EVALSHA", SHA[name], len(keys), *keys, *args)

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
        if self._reader.entries:
            if self._exchange.due:
                # Jobs that never wait would keep the loop from sending what waits (the
                # completions, the next read): let it go now, to overlap with the jobs.
                await asyncio.sleep(0)
            job = await self._next_job()
            if job is not None:
                return job
        from redis.exceptions import ResponseError

        async with self._backend("fetch", extra_s=self._block_ms / 1000):
            await self._ensure_group()
            self._start_heartbeat()
            try:
                # Jobs read with the last completions may be about to land: take those
                # rather than wait for a read of our own.
                await self._reader.wait_for_read()
                job = await self._next_job()  # (a lane may have taken them meanwhile)
                if job is not None:
                    return job
                await self._reader.refill()
                job = await self._next_job()
                if job is not None or not self._block_ms:
                    return job
                # Nothing ready: wait for a job on a connection of the pool, so the
                # settlements of running jobs need not wait behind the blocked read.
                streams: dict[Any, Any] = {self._stream: ">"}
                read = self._redis.xreadgroup(
                    self._group, self.consumer, streams, count=self._prefetch, block=self._block_ms
                )
                got = entries(await self._call(read))
                self._reader.entries.extend((e, r, 1) for e, r in got)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                self._group_ready = False  # the stream was deleted: recreate on the next call
                return None
        return await self._next_job()

    def fetch_nowait(self) -> Job | None:
        """The next job read ahead, if one is ready and nothing must reach Redis first.

        ``None`` otherwise: :meth:`fetch` then reads, lets a waiting round trip leave,
        or fails an unreadable or poison job on the way.
        """
        entries = self._reader.entries
        if not entries or self._exchange.due or self._closed:
            return None
        entry = entries[0]
        job = self._servable(entry)
        if job is not None:
            self._reader.pop()
            self._inflight[job.id] = (entry[0], job)
        return job

    async def _next_job(self) -> Job | None:
        """The next read job; unreadable and poison ones are failed on the way."""
        while (entry := self._reader.pop()) is not None:
            job = self._servable(entry)
            if job is not None:
                self._inflight[job.id] = (entry[0], job)
                return job
            await self._fail_unservable(entry)
        return None

    def _servable(self, entry: Entry) -> Job | None:
        """The job of a read entry, or ``None`` if it must be failed instead of run."""
        _, record, delivered = entry
        try:
            job = decode_job(record, delivered)
        except (ValueError, KeyError, TypeError):
            return None
        if self._max_deliveries is not None and job.attempts >= self._max_deliveries:
            return None
        return job

    async def _fail_unservable(self, entry: Entry) -> None:
        """Fail an entry :meth:`_servable` refused: unreadable, or delivered too often."""
        entry_id, record, delivered = entry
        try:
            job = decode_job(record, delivered)
        except (ValueError, KeyError, TypeError):
            logger.error("job_unreadable", extra={"queue": self.name, "entry_id": entry_id})
            job = Job(id=f"unreadable-{entry_id}", tenant="default", payload={})
            self._inflight[job.id] = (entry_id, job)
            await self.mark_failed(job.id, reason="unreadable_job", details={"entry_id": entry_id})
            return
        self._inflight[job.id] = (entry_id, job)
        await self.mark_failed(
            job.id,
            reason="max_deliveries_exceeded",
            details={"attempts": job.attempts, "max_deliveries": self._max_deliveries},
        )

    def _take(self, job_id: str) -> tuple[str, Job]:
        self._check_open()
        found = self._inflight.pop(job_id, None)
        if found is None:
            raise ConfigError(
                f"job {job_id!r} is not in flight for consumer {self.consumer!r}; "
                "only the worker that fetched a job can settle it"
            )
        return found

    async def _settle(
        self, operation: str, outcome: str, job: Job, future: asyncio.Future[Any]
    ) -> None:
        """Wait for a settlement; a refusal means another worker took the job over."""
        from redis.exceptions import RedisError

        try:
            ok = await future
        except RedisError as exc:
            raise self._error(operation, exc) from exc
        if not ok:
            self._lease_lost(job.id, outcome)

    def _lease_lost(self, job_id: str, outcome: str) -> None:
        logger.warning(
            "job_lease_lost",
            extra={
                "queue": self.name,
                "job_id": job_id,
                "outcome": outcome,
                "consumer": self.consumer,
            },
        )

    async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
        """Store the job's result and remove it, if this worker still owns it.

        A worker whose lease was lost (the job was reclaimed by another worker) changes
        nothing; the event is logged as ``job_lease_lost``.

        Raises:
            QueueBackendError: Redis failed; the job stays pending and is redelivered.
        """
        future = asyncio.get_running_loop().create_future()

        def settled(_: str, error: BaseException | None) -> None:
            if future.done():
                return
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(None)

        self.complete_soon(job_id, result=result, latency_s=latency_s, on_done=settled)
        await future

    def complete_soon(
        self,
        job_id: str,
        *,
        result: Any,
        latency_s: float,
        on_done: JobDone,
    ) -> None:
        """Like :meth:`mark_complete`, without waiting: the completion joins the next round trip.

        ``on_done(job_id, None)`` runs once it is recorded (or found taken over by another
        worker, logged as ``job_lease_lost``); ``on_done(job_id, error)`` if it failed: a
        ``QueueBackendError``, or ``asyncio.CancelledError`` if the queue's round trips
        were cancelled. The worker uses this to go on with its next job at once.

        Raises:
            ConfigError: the job is not in flight for this consumer, or the queue is closed.
        """
        entry_id, job = self._take(job_id)
        record = encode_result(
            job_id, "completed", result=result, latency_s=latency_s, attempts=job.attempts + 1
        )
        self._exchange.complete(self._result_prefix + job_id, entry_id, record, job_id, on_done)

    def _completion_settled(self, job_id: str, on_done: JobDone, reply: Any) -> None:
        if isinstance(reply, asyncio.CancelledError):
            on_done(job_id, reply)
        elif isinstance(reply, BaseException):
            error = self._error("mark_complete", reply)
            error.__cause__ = reply
            on_done(job_id, error)
        else:
            if not reply:
                self._lease_lost(job_id, "complete")
            on_done(job_id, None)

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        """Deliver the job again after ``delay_s`` seconds, with one more attempt counted."""
        entry_id, job = self._take(job_id)
        await self._requeue(entry_id, job, job.attempts + 1, delay_s, reason, "retried")

    async def release(self, job_id: str, *, reason: str) -> None:
        """Hand the job back at once, without counting an attempt (graceful shutdown)."""
        entry_id, job = self._take(job_id)
        await self._requeue(entry_id, job, job.attempts, 0.0, reason, "released")

    def _requeue_command(self, entry_id: str, record: str, delay_s: float, stat: str) -> Command:
        return self._script(
            "REQUEUE",
            [self._stream, self._delayed, self._stats],
            [self._group, self.consumer, entry_id, record, int(max(delay_s, 0.0) * 1000), stat],
        )

    async def _requeue(
        self, entry_id: str, job: Job, attempts: int, delay_s: float, reason: str, stat: str
    ) -> None:
        record = job_of(job, attempts, reason)
        future = self._exchange.submit(self._requeue_command(entry_id, record, delay_s, stat))
        await self._settle(stat, stat, job, future)

    async def mark_failed(
        self, job_id: str, *, reason: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record the failure, add the job to the dead-letter stream and remove it."""
        entry_id, job = self._take(job_id)
        record = encode_result(
            job_id, "failed", reason=reason, details=details or {}, attempts=job.attempts + 1
        )
        command = self._script(
            "FAIL",
            [self._stream, self._result_key(job_id), self._dead, self._stats],
            [self._group, self.consumer, entry_id, record, self._ttl_s, self._dead_maxlen],
        )
        await self._settle("mark_failed", "failed", job, self._exchange.submit(command))

    # -- leases ---------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            renew = renew_leases(
                self._renew,
                interval_s=self._visibility_ms / 3000,
                queue=self.name,
                leased=self._leased,
            )
            self._heartbeat = asyncio.create_task(renew, name=f"penguiflow-lease-{self.name}")

    def _renew(self, entry_ids: list[str]) -> asyncio.Future[Any]:
        args: list[str | int] = [self._group, self.consumer, *entry_ids]
        return self._exchange.submit(self._script("HEARTBEAT", [self._stream], args))

    def _leased(self) -> dict[str, Job | None]:
        """Entries this worker holds: running jobs and unstarted prefetched ones."""
        leased: dict[str, Job | None] = {e: job for e, job in self._inflight.values()}
        leased.update((entry_id, None) for entry_id, _, _ in self._reader.entries)
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
        self._reader.entries.clear()

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Hand prefetched jobs back, stop renewing leases, close an owned client; idempotent."""
        if self._closed:
            return
        self._reader.closed = True  # no more reads ahead; those under way land first
        await self._exchange.aclose()
        buffered = list(self._reader.entries)
        self._reader.entries.clear()
        if buffered:
            # One round trip hands them all back; a reclaimed one keeps its delivery count.
            sent = [
                self._exchange.submit(
                    self._requeue_command(entry_id, _counted(record, delivered), 0.0, "released")
                )
                for entry_id, record, delivered in buffered
            ]
            failed = [r for r in await asyncio.gather(*sent, return_exceptions=True) if r != 1]
            if failed:
                logger.warning(
                    "prefetched jobs not handed back; they are reclaimed after the "
                    "visibility timeout",
                    extra={"queue": self.name, "jobs": len(failed)},
                )
        self._closed = True
        await self._exchange.aclose()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self._link.aclose()
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisJobQueue(name={self.name!r}, consumer={self.consumer!r})"


def _counted(record: str, delivered: int) -> str:
    """``record`` with the deliveries of a reclaimed entry counted as attempts."""
    if delivered <= 1:
        return record
    try:
        job = decode_job(record, delivered)
    except (ValueError, KeyError, TypeError):
        return record
    return encode_job(job.id, job.tenant, job.payload, job.attempts, job.meta)
