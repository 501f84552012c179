"""One connection the Redis job queue keeps for its own traffic, and round trips on it.

A worker's queue talks to Redis a lot: settlements, non-blocking reads, lease renewals.
Going through redis-py's client for each round trip takes a connection from the pool
and gives it back, records metrics and wraps the call in retries, which costs several
times the CPU of the round trip itself. The queue therefore keeps one connection of the
client's pool for as long as it is open, writes all the commands of a round trip at once
and reads their replies in order. One task at a time uses it (the queue's
:class:`~penguiflow.scaleout._redis_batch.Exchange`).

A round trip that fails because the connection broke is sent again once on a new
connection. Every command the queue sends this way is safe to repeat: settlements first
check that the worker still owns the job, and a read whose reply was lost only leaves
jobs leased to this worker until another one reclaims them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hiredis import pack_command

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = ["Command", "Link"]

Command = Sequence[str | int | bytes]
"""One Redis command and its arguments."""


class Link:
    """A connection kept from ``client``'s pool; round trips of many commands on it.

    Args:
        client: the queue's Redis client (``decode_responses=True``).
        scripts: Lua sources by SHA1, loaded again if the server forgot them.
        timeout_s: the longest one round trip (connecting included) may take.
    """

    def __init__(self, client: Redis, *, scripts: Mapping[str, str], timeout_s: float) -> None:
        self._pool = client.connection_pool
        self._scripts = dict(scripts)
        self._timeout_s = timeout_s
        self._conn: AbstractConnection | None = None

    async def round_trip(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order.

        An error reply is returned as its exception (a ``ResponseError``); a script the
        server no longer knows is loaded and its command sent again.

        Raises:
            redis.exceptions.ConnectionError: the connection broke twice.
            redis.exceptions.TimeoutError: no full answer within ``timeout_s``.
        """
        from redis.exceptions import NoScriptError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        limit = asyncio.timeout(self._timeout_s)
        try:
            async with limit:
                replies = await self._send(commands)
                missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
                if missing:
                    loads = [("SCRIPT", "LOAD", source) for source in self._scripts.values()]
                    again = await self._send([*loads, *(commands[i] for i in missing)])
                    for i, reply in zip(missing, again[len(loads) :], strict=True):
                        replies[i] = reply
        except TimeoutError as exc:
            if not limit.expired():
                raise
            detail = f"no answer within {self._timeout_s:g}s"
            raise RedisTimeoutError(detail) from exc
        return replies

    async def _send(self, commands: Sequence[Command]) -> list[Any]:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        conn = self._conn
        if conn is None:
            conn = self._conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        # hiredis packs in C; redis-py's asyncio connection packs in Python, several
        # microseconds per argument.
        # (hiredis' stub types the argument as a 1-tuple; it takes any number of items.)
        packed = b"".join([pack_command(tuple(command)) for command in commands])  # type: ignore[arg-type]
        for attempt in (1, 2):
            try:
                # redis-py connects again here if the connection was dropped, and drops
                # it on any error while sending or reading, so no stale reply is left.
                await conn.send_packed_command(packed, check_health=False)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
                return replies
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await conn.disconnect(nowait=True)
                if attempt == 2:
                    raise
            except BaseException:
                await conn.disconnect(nowait=True)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Give the connection back to the pool; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(KeyError):  # a pool reset meanwhile forgot it
                await self._pool.release(conn)
