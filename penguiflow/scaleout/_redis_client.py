"""Opening a redis-py asyncio client for the Redis queue and bus."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from ..errors import ConfigError

__all__ = ["open_client"]


def open_client(url: str, *, max_connections: int, owner: str) -> Redis:
    """A client on a pool that waits for a free connection instead of failing.

    redis-py's default pool raises once ``max_connections`` are in use; concurrent jobs
    and publishes should queue for a connection instead.

    No socket timeout is set: with one, redis-py sends through ``asyncio.wait_for``,
    which on Python 3.11 can swallow a ``task.cancel()`` that lands as the send completes
    (a worker then never stops). The queue and the bus bound every call with
    ``asyncio.timeout`` instead.
    """
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ConfigError(
            f"{owner}(max_connections=...) must be an int >= 2, got {max_connections!r}"
        )
    if max_connections < 2:
        raise ConfigError(f"{owner}(max_connections=...) must be >= 2, got {max_connections}")
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=max_connections,
        timeout=20,
        socket_timeout=None,
        socket_connect_timeout=5.0,
    )
    return Redis.from_pool(pool)
