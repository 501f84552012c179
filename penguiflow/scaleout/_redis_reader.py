"""The reading side of the Redis job queue: the jobs a worker read but has not started.

``Reader`` keeps the entries read from the stream until ``fetch`` hands them out. It
fills itself in round trips of the queue's :class:`~penguiflow.scaleout._redis_batch.Exchange`:
when it runs empty (promoting due retries and, now and then, reclaiming a dead worker's
job first), and, with ``prefetch`` above 1, with the round trips that complete jobs. The
replies land here as they arrive, so a fetch cancelled while waiting loses no job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._redis_batch import Exchange
from ._redis_codec import entries
from ._redis_link import Command
from ._redis_scripts import SHA, SOURCES

__all__ = ["Entry", "Reader"]

logger = logging.getLogger("penguiflow.worker")

Entry = tuple[str, str, int]
"""A stream entry read but not handed out: entry id, job record, times delivered."""


class Reader:
    """The entries a consumer read but has not handed out yet.

    Args:
        exchange: the queue's round trips.
        stream: the stream key.
        delayed: the key of the delayed jobs.
        group: the consumer group.
        consumer: this consumer.
        prefetch: entries read at once when empty; at most ``prefetch - 1`` wait.
        visibility_ms: how idle another consumer's entry must be to be reclaimed.
        queue: the queue's name, for logs.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        stream: str,
        delayed: str,
        group: str,
        consumer: str,
        prefetch: int,
        visibility_ms: int,
        queue: str,
    ) -> None:
        self._exchange = exchange
        self._stream = stream
        self._delayed = delayed
        self._group = group
        self._consumer = consumer
        self._prefetch = prefetch
        self._visibility_ms = visibility_ms
        self._queue = queue
        self.entries: deque[Entry] = deque()
        self._drawn = 0  # entries handed out since the last read was sent
        self._reading = False  # a read is on its way
        self._read: asyncio.Future[Any] | None = None  # its reply, when sent with completions
        self._scripts_loaded = False
        self._cursor = "0-0"
        self._next_reclaim = 0.0
        self._next_promote = 0.0
        self._reclaim_every = min(visibility_ms / 2000, 5.0)
        self.closed = False

    def pop(self) -> Entry | None:
        """The next entry (a reclaimed one first), or ``None``."""
        if not self.entries:
            return None
        self._drawn += 1
        return self.entries.popleft()

    def read_command(self, count: int) -> Command:
        """``XREADGROUP`` of up to ``count`` new entries, without blocking."""
        return (
            *("XREADGROUP", "GROUP", self._group, self._consumer),
            *("COUNT", count, "STREAMS", self._stream, ">"),
        )

    async def refill(self) -> None:
        """Promote due retries, then reclaim a dead worker's entry or read new ones.

        Raises:
            redis.exceptions.RedisError: Redis failed (``NOGROUP``: the stream is gone).
        """
        exchange = self._exchange
        sent: list[asyncio.Future[Any]] = []
        if not self._scripts_loaded:  # so that the first settlements find them
            sent += [exchange.submit(("SCRIPT", "LOAD", s)) for s in SOURCES.values()]
            self._scripts_loaded = True
        now = time.monotonic()
        if now >= self._next_promote:
            self._next_promote = now + 0.2
            keys: list[str | int] = [self._delayed, self._stream]
            sent.append(exchange.submit(("EVALSHA", SHA["PROMOTE"], 2, *keys, 100)))
        if now >= self._next_reclaim:
            self._next_reclaim = now + self._reclaim_every
            args = (self._group, self._consumer, self._visibility_ms, self._cursor)
            reclaim = ("EVALSHA", SHA["RECLAIM"], 1, self._stream, *args)
            sent.append(exchange.submit(reclaim, self._on_reclaim))
            await _all(sent)
            if self.entries:  # a reclaimed entry comes alone, as a read of one would
                return
            sent = []
        sent.append(exchange.submit(self.read_command(self._prefetch), self._on_read))
        self._reading, self._drawn = True, 0
        try:
            await _all(sent)
        finally:
            self._reading = False

    async def wait_for_read(self) -> None:
        """Wait for the read sent with completions, if one is on its way.

        Its reply may be here already. A failed read is left to the next :meth:`refill`.
        """
        read = self._read
        if read is not None and not read.done():
            await asyncio.wait({read})  # (a cancelled fetch leaves the read alone)

    def top_up(self) -> tuple[Command, Callable[[Any], None], asyncio.Future[Any]] | None:
        """A read to send with completions: as many entries as were handed out, at most.

        Only for a consumer that keeps fetching (entries were handed out since the last
        read), so a worker that stopped fetching does not collect jobs it would hand
        back; never more than ``prefetch - 1`` wait, as after a full read.
        """
        room = self._prefetch - 1 - len(self.entries)
        if not self._drawn or room <= 0 or self._reading or self.closed:
            return None
        self._reading = True
        count, self._drawn = min(room, self._drawn), 0
        self._read = asyncio.get_running_loop().create_future()
        self._read.add_done_callback(_retrieved)  # a failure is the next refill's business
        return self.read_command(count), self._on_read, self._read

    def _on_read(self, reply: Any) -> None:
        self._reading = False
        self.entries.extend((entry_id, record, 1) for entry_id, record in entries(reply))

    def _on_reclaim(self, reply: Any) -> None:
        cursor, entry_id, record, delivered = reply
        self._cursor = str(cursor)
        if not entry_id:
            return
        self._next_reclaim = 0.0  # there may be more dead workers' jobs: look again next time
        logger.warning(
            "job_reclaimed",
            extra={"queue": self._queue, "entry_id": entry_id, "delivered": int(delivered)},
        )
        self.entries.appendleft((str(entry_id), str(record), int(delivered)))


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _all(futures: list[asyncio.Future[Any]]) -> None:
    """Wait for every future, then raise the first error (none is left unretrieved)."""
    for outcome in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
