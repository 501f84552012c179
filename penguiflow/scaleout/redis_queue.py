"""``RedisJobQueue``: a :class:`~penguiflow.scaleout.jobs.JobQueue` on Redis Streams.

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

Needs the ``redis`` extra (``pip install 'penguiflow[redis]'``).
"""

from __future__ import annotations

try:
    from redis.asyncio import Redis
    from redis.exceptions import ResponseError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "penguiflow.scaleout.redis_queue needs redis-py: install the redis extra with "
        "`pip install 'penguiflow[redis]'`"
    ) from exc

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any, Self

from ..errors import ConfigError
from ._redis_codec import (
    QueueCounts,
    decode_job,
    encode_result,
    entries,
    job_of,
    positive,
    with_deliveries,
)
from ._redis_completions import Completion, CompletionBatches
from ._redis_store import QueueStore
from .errors import QueueBackendError
from .jobs import Job, JobDone

__all__ = ["QueueCounts", "RedisJobQueue"]

logger = logging.getLogger("penguiflow.worker")

Entry = tuple[str, str, int]
"""A stream entry read but not handed out: entry id, job record, times delivered."""

_PROMOTE_EVERY_S = 0.2
"""How often a fetching worker moves due retries back to the stream."""


class RedisJobQueue(QueueStore):
    """A job queue on a Redis stream with a consumer group (Redis >= 6.2).

    It implements :class:`~penguiflow.scaleout.jobs.JobQueue` and its three optional
    capabilities: ``release``, ``fetch_nowait`` (jobs read ahead, see ``prefetch``) and
    ``complete_soon`` (completions recorded in batches).

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
            for a free connection).
        command_timeout_s: the longest one call to Redis may take (beyond ``block_s``
            for a blocking read) before it fails with ``QueueBackendError``.
        prefetch: jobs read from Redis per read; the extra ones wait in this process
            (leased to this worker, their leases renewed) until ``fetch`` or
            ``fetch_nowait`` hands them out. Raise it for many short jobs; keep 1 for
            long jobs so idle workers get them. ``aclose()`` hands unstarted jobs back.

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
        super().__init__(
            url,
            client,
            name=name,
            prefix=prefix,
            group=group,
            results_ttl_s=results_ttl_s,
            dead_letter_maxlen=dead_letter_maxlen,
            max_connections=max_connections,
            command_timeout_s=command_timeout_s,
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
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ConfigError(f"RedisJobQueue(prefetch=...) must be an int >= 1, got {prefetch!r}")
        self._visibility_ms = int(positive("visibility_timeout_s", visibility_timeout_s) * 1000)
        self._block_ms = int(positive("block_s", block_s, allow_zero=True) * 1000)
        self._max_deliveries = max_deliveries
        self._prefetch = prefetch
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._read_ahead: deque[Entry] = deque()  # read, not handed out yet
        self._inflight: dict[str, tuple[str, Job]] = {}  # job id -> entry id, job
        self._completions = CompletionBatches(self._record_completions)
        self._renewal: asyncio.Task[None] | None = None
        self._next_promote = 0.0
        self._next_reclaim = 0.0
        self._reclaim_every = min(self._visibility_ms / 2000, 5.0)
        self._reclaim_cursor = "0-0"

    # -- consuming ------------------------------------------------------------------------

    async def fetch(self) -> Job | None:
        """Return the next job (a reclaimed one first), or ``None`` after ``block_s``.

        Raises:
            QueueBackendError: Redis failed.
        """
        self._check_open()
        job = await self._next_read_job()
        if job is not None:
            return job
        async with self._backend("fetch", extra_s=self._block_ms / 1000):
            await self._ensure_group()
            self._start_renewal()
            try:
                await self._read()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                self._group_ready = False  # the stream was deleted: recreate on the next call
                return None
        return await self._next_read_job()

    def fetch_nowait(self) -> Job | None:
        """The next job read ahead, or ``None`` at once (then call :meth:`fetch`).

        ``None`` also when the next entry read cannot be served (unreadable, or delivered
        too often): :meth:`fetch` fails it on the way.
        """
        if self._closed or not self._read_ahead:
            return None
        job = self._servable(self._read_ahead[0])
        if job is not None:
            entry_id, _, _ = self._read_ahead.popleft()
            self._inflight[job.id] = (entry_id, job)
        return job

    async def _read(self) -> None:
        """Promote due retries, then take a dead worker's job over or read new ones."""
        now = time.monotonic()
        if now >= self._next_promote:
            self._next_promote = now + _PROMOTE_EVERY_S
            await self._scripts.promote(keys=[self._delayed, self._stream], args=[100])
        if now >= self._next_reclaim and await self._reclaim():
            return  # a reclaimed job comes alone, as a read of one would
        reply = await self._redis.xreadgroup(
            self._group,
            self.consumer,
            {self._stream: ">"},
            count=self._prefetch,
            block=self._block_ms or None,  # (BLOCK 0 would wait forever)
        )
        self._read_ahead.extend((entry_id, record, 1) for entry_id, record in entries(reply))

    async def _reclaim(self) -> bool:
        """Take over one entry left idle past the visibility timeout; ``True`` if found."""
        self._next_reclaim = time.monotonic() + self._reclaim_every
        args: list[str | int] = [
            self._group,
            self.consumer,
            self._visibility_ms,
            self._reclaim_cursor,
        ]
        reply = await self._scripts.reclaim(keys=[self._stream], args=args)
        cursor, entry_id, record, delivered = reply
        self._reclaim_cursor = str(cursor)
        if not entry_id:
            return False
        self._next_reclaim = 0.0  # more dead workers' jobs may wait: look again next time
        logger.warning(
            "job_reclaimed",
            extra={"queue": self.name, "entry_id": entry_id, "delivered": int(delivered)},
        )
        self._read_ahead.appendleft((str(entry_id), str(record), int(delivered)))
        return True

    async def _next_read_job(self) -> Job | None:
        """The next job read; unreadable and poison ones are failed on the way."""
        while self._read_ahead:
            entry = self._read_ahead.popleft()
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

    # -- settling -------------------------------------------------------------------------

    def _take(self, job_id: str) -> tuple[str, Job]:
        self._check_open()
        found = self._inflight.pop(job_id, None)
        if found is None:
            raise ConfigError(
                f"job {job_id!r} is not in flight for consumer {self.consumer!r}; "
                "only the worker that fetched a job can settle it"
            )
        return found

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
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_done(_: str, error: BaseException | None) -> None:
            if recorded.done():
                return
            if isinstance(error, asyncio.CancelledError):
                recorded.cancel()
            elif error is not None:
                recorded.set_exception(error)
            else:
                recorded.set_result(None)

        self.complete_soon(job_id, result=result, latency_s=latency_s, on_done=on_done)
        await recorded

    def complete_soon(
        self,
        job_id: str,
        *,
        result: Any,
        latency_s: float,
        on_done: JobDone,
    ) -> None:
        """Like :meth:`mark_complete`, without waiting: the completion joins the next batch.

        ``on_done(job_id, None)`` runs once it is recorded (or found taken over by another
        worker, logged as ``job_lease_lost``); ``on_done(job_id, error)`` if it failed: a
        ``QueueBackendError``, or ``asyncio.CancelledError`` if the sending was cancelled.

        Raises:
            ConfigError: the job is not in flight for this consumer, or the queue is closed.
        """
        entry_id, job = self._take(job_id)
        record = encode_result(
            job_id, "completed", result=result, latency_s=latency_s, attempts=job.attempts + 1
        )
        self._completions.add(Completion(job_id, entry_id, record, on_done))

    async def _record_completions(self, batch: list[Completion]) -> None:
        """Complete a batch of jobs in one script call; tell each how it ended."""
        keys = [self._stream, self._stats, *(self._result_key(c.job_id) for c in batch)]
        args: list[str | int] = [self._group, self.consumer, self._ttl_s]
        for completion in batch:
            args += (completion.entry_id, completion.record)
        async with self._backend("mark_complete"):
            done = await self._scripts.complete(keys=keys, args=args)
        for completion, recorded in zip(batch, done, strict=True):
            if not recorded:
                self._lease_lost(completion.job_id, "complete")
            completion.on_done(completion.job_id, None)

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        """Deliver the job again after ``delay_s`` seconds, with one more attempt counted."""
        entry_id, job = self._take(job_id)
        record = job_of(job, job.attempts + 1, reason)
        await self._requeue(job_id, entry_id, record, delay_s, "retried")

    async def release(self, job_id: str, *, reason: str) -> None:
        """Hand the job back at once, without counting an attempt (graceful shutdown)."""
        entry_id, job = self._take(job_id)
        await self._requeue(job_id, entry_id, job_of(job, job.attempts, reason), 0.0, "released")

    def _requeue_args(
        self, entry_id: str, record: str, delay_s: float, stat: str
    ) -> list[str | int]:
        delay_ms = int(max(delay_s, 0.0) * 1000)
        return [self._group, self.consumer, entry_id, record, delay_ms, stat]

    async def _requeue(
        self, job_id: str, entry_id: str, record: str, delay_s: float, stat: str
    ) -> None:
        keys = [self._stream, self._delayed, self._stats]
        async with self._backend(stat):
            owned = await self._scripts.requeue(
                keys=keys, args=self._requeue_args(entry_id, record, delay_s, stat)
            )
        if not owned:
            self._lease_lost(job_id, stat)

    async def mark_failed(
        self, job_id: str, *, reason: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record the failure, add the job to the dead-letter stream and remove it."""
        entry_id, job = self._take(job_id)
        record = encode_result(
            job_id, "failed", reason=reason, details=details or {}, attempts=job.attempts + 1
        )
        keys = [self._stream, self._result_key(job_id), self._dead, self._stats]
        args: list[str | int] = [
            self._group,
            self.consumer,
            entry_id,
            record,
            self._ttl_s,
            self._dead_maxlen,
        ]
        async with self._backend("mark_failed"):
            owned = await self._scripts.fail(keys=keys, args=args)
        if not owned:
            self._lease_lost(job_id, "failed")

    # -- leases ---------------------------------------------------------------------------

    def _start_renewal(self) -> None:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(
                self._renew_leases(), name=f"penguiflow-lease-{self.name}"
            )

    def _held(self) -> dict[str, Job | None]:
        """Entries this worker holds: running jobs, and unstarted read ones (``None``)."""
        held: dict[str, Job | None] = {e: job for e, job in self._inflight.values()}
        held.update((entry_id, None) for entry_id, _, _ in self._read_ahead)
        return held

    async def _renew_leases(self) -> None:
        """Every third of the visibility timeout, renew the leases of the entries held.

        The renewal script answers with the entries another worker took over; they are
        logged as ``job_lease_lost`` (settling them later changes nothing). Runs until
        cancelled.
        """
        while True:
            await asyncio.sleep(self._visibility_ms / 3000)
            held = self._held()
            if not held:
                continue
            try:
                async with self._backend("renew_leases"):
                    lost = await self._scripts.heartbeat(
                        keys=[self._stream], args=[self._group, self.consumer, *held]
                    )
            except QueueBackendError:
                logger.warning(
                    "job_lease_renewal_failed", exc_info=True, extra={"queue": self.name}
                )
                continue
            for entry_id in lost:
                job = held.get(entry_id)
                logger.warning(
                    "job_lease_lost",
                    extra={
                        "queue": self.name,
                        "job_id": getattr(job, "id", None),
                        "entry_id": entry_id,
                    },
                )

    async def purge(self) -> None:
        """Delete every key of this queue (jobs, results, counters). For tests and resets."""
        await super().purge()
        self._inflight.clear()
        self._read_ahead.clear()

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send waiting completions, hand unstarted jobs back, stop renewing leases.

        Closes the client if the queue opened it. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        await self._completions.aclose()
        await self._hand_back_read_ahead()
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)
        await self._close_client()

    async def _hand_back_read_ahead(self) -> None:
        """Hand the jobs read and never started back, in one round trip, no attempt counted.

        A reclaimed one keeps its deliveries counted as attempts.
        """
        unstarted = list(self._read_ahead)
        self._read_ahead.clear()
        if not unstarted:
            return
        keys = [self._stream, self._delayed, self._stats]
        replies: list[Any] = []
        with contextlib.suppress(QueueBackendError):
            async with self._backend("release"):
                pipe = self._redis.pipeline(transaction=False)
                for entry_id, record, delivered in unstarted:
                    args = self._requeue_args(
                        entry_id, with_deliveries(record, delivered), 0.0, "released"
                    )
                    await self._scripts.requeue(keys=keys, args=args, client=pipe)
                replies = await pipe.execute(raise_on_error=False)
        not_handed_back = len(unstarted) - sum(1 for reply in replies if reply == 1)
        if not_handed_back:
            logger.warning(
                "prefetched jobs not handed back; they are reclaimed after the visibility timeout",
                extra={"queue": self.name, "jobs": not_handed_back},
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisJobQueue(name={self.name!r}, consumer={self.consumer!r})"
