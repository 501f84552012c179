"""Background work of the Redis job queue: batched settlements and lease renewal.

``ScriptBatcher``: Lua script calls issued close together share one pipeline.

A worker settles jobs (complete, retry, fail) from many concurrent tasks. Each settle is
one script call; sending each on its own costs a round trip and several system calls.
The batcher keeps at most one pipeline in flight per queue: calls made while it is in
flight wait and leave together in the next one ("group commit"), so the batch size
follows the load and an idle queue still settles at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["ScriptBatcher", "renew_leases"]

logger = logging.getLogger("penguiflow.worker")

_Call = tuple[str, list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs script calls through pipelines, one pipeline in flight at a time.

    All ``COMPLETE`` calls of a batch go out as one script call (its keys and arguments
    are the shared ``complete_keys``/``complete_args`` followed by each job's result key,
    entry id and record); other scripts go one call each, in the same pipeline.

    Args:
        client: the Redis client.
        scripts: the registered scripts by name.
        timeout_s: the longest one pipeline may take.
        complete_keys: the keys every ``COMPLETE`` call shares.
        complete_args: the arguments every ``COMPLETE`` call shares.
    """

    def __init__(
        self,
        client: Redis,
        scripts: dict[str, AsyncScript],
        *,
        timeout_s: float,
        complete_keys: list[str],
        complete_args: list[Any],
    ) -> None:
        self._client = client
        self._scripts = scripts
        self._timeout_s = timeout_s
        self._complete_keys = complete_keys
        self._complete_args = complete_args
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` in the next pipeline and return its reply.

        A caller cancelled while waiting does not withdraw the call: it may still run.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((name, keys, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="penguiflow-redis-settle")
        return await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # calls issued in this same tick join the batch
            batch, self._pending = self._pending, []
            try:
                async with asyncio.timeout(self._timeout_s):
                    replies = await self._send(batch)
            except asyncio.CancelledError:
                for *_, future in batch:
                    future.cancel()
                raise
            except BaseException as exc:  # the callers get the error; the flusher goes on
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue
                if isinstance(reply, BaseException):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _send(self, batch: list[_Call]) -> list[Any]:
        from redis.exceptions import NoScriptError

        completes = [i for i, call in enumerate(batch) if call[0] == "COMPLETE"]
        others = [i for i, call in enumerate(batch) if call[0] != "COMPLETE"]
        pipe = self._client.pipeline(transaction=False)
        if completes:
            keys = [*self._complete_keys, *(batch[i][1][0] for i in completes)]
            args = [*self._complete_args, *(a for i in completes for a in batch[i][2])]
            pipe.evalsha(self._scripts["COMPLETE"].sha, len(keys), *keys, *args)
        for i in others:
            name, keys, args, _ = batch[i]
            pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        if completes and isinstance(replies[0], NoScriptError):  # the server lost its cache
            keys = [*self._complete_keys, *(batch[i][1][0] for i in completes)]
            args = [*self._complete_args, *(a for i in completes for a in batch[i][2])]
            try:
                replies[0] = await self._scripts["COMPLETE"](keys=keys, args=args)
            except Exception as exc:
                replies[0] = exc
        results: list[Any] = [None] * len(batch)
        if completes:
            first = replies[0]
            for n, i in enumerate(completes):
                results[i] = first if isinstance(first, BaseException) else first[n]
        for reply, i in zip(replies[1 if completes else 0 :], others, strict=True):
            if isinstance(reply, NoScriptError):
                name, keys, args, _ = batch[i]
                try:
                    reply = await self._scripts[name](keys=keys, args=args)
                except Exception as exc:
                    reply = exc
            results[i] = reply
        return results

    async def aclose(self) -> None:
        """Wait for the calls already made to be sent."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)


async def renew_leases(
    script: AsyncScript,
    *,
    keys: list[str],
    args: list[Any],
    interval_s: float,
    timeout_s: float,
    queue: str,
    leased: Callable[[], Mapping[str, Any]],
) -> None:
    """Every ``interval_s``, reset the idle time of the entries the worker still owns.

    ``leased()`` maps each held entry id to its job (``None`` for a prefetched one). The
    script returns the entries another worker took over; they are logged as
    ``job_lease_lost`` (settling them later changes nothing). Runs until cancelled.
    """
    from redis.exceptions import RedisError

    while True:
        await asyncio.sleep(interval_s)
        entries = leased()
        if not entries:
            continue
        try:
            async with asyncio.timeout(timeout_s):
                lost = await script(keys=keys, args=[*args, *entries])
        except (RedisError, TimeoutError):
            logger.warning("job_lease_renewal_failed", exc_info=True, extra={"queue": queue})
            continue
        for entry_id in lost or ():
            job = entries.get(entry_id)
            logger.warning(
                "job_lease_lost",
                extra={
                    "queue": queue,
                    "job_id": getattr(job, "id", None),
                    "entry_id": entry_id,
                },
            )
