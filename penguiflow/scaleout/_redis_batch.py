"""Background work of the Redis job queue: shared round trips and lease renewal.

``Exchange``: the queue's commands issued close together share one round trip.

A worker settles jobs (complete, retry, fail) from many concurrent tasks and reads new
jobs from its fetch loop. Sending each command on its own costs a round trip and several
system calls. The exchange keeps at most one round trip in flight per queue: commands
issued while it is in flight wait and leave together in the next one ("group commit"),
so the batch size follows the load and an idle queue still settles at once. All the
completions of a round trip are one script call, and a read for new jobs travels with
them.

With ``linger_s`` (a queue that prefetches, so its jobs are short), a completion may also
wait that long for a round trip the queue makes anyway, usually the read of the next
jobs, so that one round trip serves a whole batch of jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ._redis_link import Command, Link

__all__ = ["Exchange", "renew_leases"]

logger = logging.getLogger("penguiflow.worker")

_MAX_WAITING = 64
"""So many waiting completions leave at once: one script call, which Redis runs in one go,
should stay short."""

OnReply = Callable[[Any], None]
OnSettled = Callable[[str, Any, Any], None]
"""``on_settled(job_id, tag, reply)``: how a completion ended. The reply is 1 (done), 0
(lease lost) or the exception that stopped it (``asyncio.CancelledError`` when the
exchange was cancelled); ``tag`` is what the completion was given."""
_Complete = tuple[str, str, str, str, Any]
"""A waiting completion: result key, entry id, record, job id, tag."""
TopUp = Callable[[], "tuple[Command, OnReply, asyncio.Future[Any]] | None"]


class Exchange:
    """Sends the queue's commands through ``link``, one round trip in flight at a time.

    Args:
        link: the queue's connection.
        complete_sha: SHA1 of the ``COMPLETE`` script.
        complete_keys: the keys every completion shares (before each job's result key).
        on_settled: told how each completion ended.
        complete_args: the arguments every completion shares (before each job's entry id
            and record).
        top_up: asked before each round trip that completes jobs; may return a command
            (a read for more jobs) to send with it, the handler of its reply and a future
            for the reply.
        linger_s: how long completions may wait for another reason to make a round trip
            (``None``: they leave at once).
    """

    def __init__(
        self,
        link: Link,
        *,
        complete_sha: str,
        complete_keys: list[str],
        on_settled: OnSettled,
        complete_args: list[str | int],
        top_up: TopUp | None = None,
        linger_s: float | None = None,
    ) -> None:
        self._link = link
        self._complete_sha = complete_sha
        self._complete_keys = complete_keys
        self._on_settled = on_settled
        self._complete_args = complete_args
        self.top_up = top_up
        self._linger_s = linger_s
        self._completes: list[_Complete] = []
        self._calls: list[tuple[Command, asyncio.Future[Any] | None, OnReply | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._due = False  # what waits leaves with the next round trip
        self._sending = False  # a round trip is under way
        self._timer: asyncio.TimerHandle | None = None

    def complete(self, result_key: str, entry_id: str, record: str, job_id: str, tag: Any) -> None:
        """Complete a job in the next round trip; ``on_settled(job_id, tag, reply)`` after.

        Once called, the completion cannot be withdrawn.
        """
        self._completes.append((result_key, entry_id, record, job_id, tag))
        if self._linger_s is None or len(self._completes) >= _MAX_WAITING:
            self._wake()
        elif self._timer is None and not self._due:
            self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._wake)

    @property
    def due(self) -> bool:
        """Commands wait for a round trip that the next turn of the event loop sends."""
        return self._due and not self._sending

    def submit(self, command: Command, on_reply: OnReply | None = None) -> asyncio.Future[Any]:
        """Send ``command`` in the next round trip; the future gets its reply.

        An error reply is set as the future's exception. ``on_reply(reply)`` runs as soon
        as the reply arrives, even if the future was cancelled meanwhile (so a read's
        jobs are never dropped); it does not run if the round trip failed.
        """
        future = asyncio.get_running_loop().create_future()
        self._calls.append((command, future, on_reply))
        self._wake()
        return future

    def _wake(self) -> None:
        """Send everything that waits in the next round trip."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = True
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="penguiflow-redis-exchange"
            )

    def _commands(
        self,
        completes: list[_Complete],
        calls: list[tuple[Command, asyncio.Future[Any] | None, OnReply | None]],
    ) -> list[Command]:
        commands: list[Command] = []
        if completes:
            keys = [*self._complete_keys, *(c[0] for c in completes)]
            command: list[str | int] = ["EVALSHA", self._complete_sha, len(keys), *keys]
            command += self._complete_args
            for _, entry_id, record, _, _ in completes:
                command += (entry_id, record)
            commands.append(command)
        if completes and self.top_up is not None:
            extra = self.top_up()
            if extra is not None:
                calls.append((extra[0], extra[2], extra[1]))
        commands.extend(call[0] for call in calls)
        return commands

    async def _flush(self) -> None:
        while self._due:
            self._due = False
            completes, self._completes = self._completes, []
            calls, self._calls = self._calls, []
            if not completes and not calls:
                continue
            commands = self._commands(completes, calls)
            try:
                self._sending = True
                try:
                    replies = await self._link.round_trip(commands)
                finally:
                    self._sending = False
            except asyncio.CancelledError as exc:
                self._settle_all(completes, exc)
                for _, call_future, _ in calls:
                    if call_future is not None:
                        call_future.cancel()
                raise
            except Exception as exc:  # the callers get the error; the exchange goes on
                self._settle_all(completes, exc)
                for _, call_future, _ in calls:
                    _fail(call_future, exc)
                continue
            if completes:
                done = replies[0]
                if isinstance(done, BaseException):
                    self._settle_all(completes, done)
                else:
                    self._settle_all(completes, None, done)
            for (_, call_future, on_reply), reply in zip(
                calls, replies[1 if completes else 0 :], strict=True
            ):
                if on_reply is not None and not isinstance(reply, BaseException):
                    try:
                        on_reply(reply)
                    except Exception as exc:
                        logger.exception("redis reply handling failed")
                        reply = exc
                if isinstance(reply, BaseException):
                    _fail(call_future, reply)
                elif call_future is not None and not call_future.done():
                    call_future.set_result(reply)

    def _settle_all(
        self, completes: list[_Complete], error: BaseException | None, replies: Any = None
    ) -> None:
        """Tell how each completion ended: its reply, or ``error`` for all."""
        on_settled = self._on_settled
        for n, (_, _, _, job_id, tag) in enumerate(completes):
            try:
                on_settled(job_id, tag, error if replies is None else replies[n])
            except Exception:
                logger.exception("job completion handling failed")

    async def aclose(self) -> None:
        """Send what waits and wait for the commands already issued to be sent."""
        if self._completes or self._calls:
            self._wake()
        if self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)


def _fail(future: asyncio.Future[Any] | None, exc: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(exc)


async def renew_leases(
    renew: Callable[[list[str]], asyncio.Future[Any]],
    *,
    interval_s: float,
    queue: str,
    leased: Callable[[], Mapping[str, Any]],
) -> None:
    """Every ``interval_s``, reset the idle time of the entries the worker still owns.

    ``leased()`` maps each held entry id to its job (``None`` for a prefetched one).
    ``renew(entry_ids)`` runs the renewal script, which answers with the entries another
    worker took over; they are logged as ``job_lease_lost`` (settling them later changes
    nothing). Runs until cancelled.
    """
    from redis.exceptions import RedisError

    while True:
        await asyncio.sleep(interval_s)
        entries = leased()
        if not entries:
            continue
        try:
            lost = await renew(list(entries))
        except RedisError:
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
