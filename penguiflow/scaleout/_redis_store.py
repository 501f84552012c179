"""The Redis side of a job queue that needs no consumer: its keys, producing, inspecting.

:class:`QueueStore` holds the client, the keys and the Lua scripts of one queue, bounds
and translates every call to Redis, and implements what producers and observers use
(``enqueue``, ``get_result``, ``counts``...).
:class:`~penguiflow.scaleout.redis_queue.RedisJobQueue` adds the consumer on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ..errors import ConfigError
from ._hooks import job_meta
from ._redis_client import open_client
from ._redis_codec import QueueCounts, counts_from, decode_result, encode_job, positive
from ._redis_scripts import QueueScripts
from .errors import QueueBackendError
from .jobs import JobResult

__all__ = ["QueueStore"]


class QueueStore:
    """One queue's keys and scripts on a Redis client (see ``RedisJobQueue`` for the args).

    Raises:
        ConfigError: a bad argument.
    """

    def __init__(
        self,
        url: str | None,
        client: Redis | None,
        *,
        name: str,
        prefix: str,
        group: str,
        results_ttl_s: float,
        dead_letter_maxlen: int,
        max_connections: int,
        command_timeout_s: float,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigError(
                "RedisJobQueue needs exactly one of url='redis://host:6379/0' or client=Redis(...)"
            )
        if not name or not isinstance(name, str) or any(c in name for c in "{}"):
            raise ConfigError(
                f"RedisJobQueue(name=...) must be a non-empty string without braces, got {name!r}"
            )
        self._ttl_s = max(1, int(positive("results_ttl_s", results_ttl_s)))
        self._dead_maxlen = int(positive("dead_letter_maxlen", dead_letter_maxlen))
        self._command_timeout_s = positive("command_timeout_s", command_timeout_s)
        if client is None:
            assert url is not None
            client = open_client(url, max_connections=max_connections, owner="RedisJobQueue")
            self._owns_client = True
        elif isinstance(client, Redis):
            self._owns_client = False
        else:
            raise ConfigError(
                "RedisJobQueue(client=...) must be a redis.asyncio.Redis with a connection "
                f"pool, got {type(client).__name__}"
            )
        self._redis: Redis = client
        self._scripts = QueueScripts.register(client)
        self.name = name
        base = f"{prefix}:{{{name}}}"
        self._stream = f"{base}:stream"
        self._delayed = f"{base}:delayed"
        self._dead = f"{base}:dead"
        self._stats = f"{base}:stats"
        self._result_prefix = f"{base}:result:"
        self._group = group
        self._group_ready = False
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _backend(self, operation: str, *, extra_s: float = 0.0) -> AsyncIterator[None]:
        """Bound a group of Redis calls by ``command_timeout_s`` and translate Redis errors."""
        limit = asyncio.timeout(self._command_timeout_s + extra_s)
        try:
            async with limit:
                yield
        except RedisError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise QueueBackendError(operation, self.name, detail) from exc
        except TimeoutError as exc:
            if not limit.expired():
                raise
            detail = f"no answer within command_timeout_s={self._command_timeout_s:g}"
            raise QueueBackendError(operation, self.name, detail) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError(f"RedisJobQueue {self.name!r} is closed; create a new one")

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

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
        self._check_open()
        job_id = job_id or uuid.uuid4().hex
        record = encode_job(job_id, tenant, payload, 0, job_meta())
        async with self._backend("enqueue"):
            await self._ensure_group()
            if delay_s > 0:
                due_ms = int((time.time() + delay_s) * 1000)
                await self._redis.zadd(self._delayed, {record: due_ms})
            else:
                await self._redis.xadd(self._stream, {"job": record})
        return job_id

    async def enqueue_many(
        self, payloads: list[Mapping[str, Any]], *, tenant: str = "default"
    ) -> list[str]:
        """Add many jobs in one round trip; returns their ids in order."""
        self._check_open()
        ids = [uuid.uuid4().hex for _ in payloads]
        async with self._backend("enqueue"):
            await self._ensure_group()
            pipe = self._redis.pipeline(transaction=False)
            meta = job_meta()
            for job_id, payload in zip(ids, payloads, strict=True):
                pipe.xadd(self._stream, {"job": encode_job(job_id, tenant, payload, 0, meta)})
            await pipe.execute()
        return ids

    # -- inspection -----------------------------------------------------------------------

    async def get_result(self, job_id: str) -> JobResult | None:
        """Return how the job ended, or ``None`` if it has not (or its result expired)."""
        self._check_open()
        async with self._backend("get_result"):
            raw = await self._redis.get(self._result_key(job_id))
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
        self._check_open()
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
        self._check_open()
        async with self._backend("dead_letters"):
            found = await self._redis.xrevrange(self._dead, count=count)
        return [decode_result(fields["record"]) for _, fields in found or () if fields]

    async def purge(self) -> None:
        """Delete every key of this queue (jobs, results, counters). For tests and resets."""
        self._check_open()
        async with self._backend("purge"):
            keys = [self._stream, self._delayed, self._dead, self._stats]
            async for key in self._redis.scan_iter(match=self._result_prefix + "*"):
                keys.append(key)
            await self._redis.delete(*keys)
        self._group_ready = False

    async def _close_client(self) -> None:
        """Close the client if this queue opened it."""
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()
