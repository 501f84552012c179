"""Opening a redis-py asyncio client for the Redis adapters (imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["open_client"]


def open_client(url: str, *, max_connections: int, owner: str) -> Redis:
    """A client on a pool that waits for a free connection instead of failing.

    redis-py's default pool raises once ``max_connections`` are in use; concurrent jobs
    and publishes should queue for a connection instead.

    The socket timeout is turned off on purpose: with one set, redis-py wraps each send in
    ``asyncio.wait_for``, which on Python 3.11 can swallow a ``task.cancel()`` that lands
    as the send completes (a worker then never stops). The adapters bound every call
    with ``asyncio.timeout`` themselves.
    """
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ConfigError(
            f"{owner}(max_connections=...) must be an int >= 2, got {max_connections!r}"
        )
    if max_connections < 2:
        raise ConfigError(f"{owner}(max_connections=...) must be >= 2, got {max_connections}")
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=max_connections,
        timeout=20,
        socket_timeout=None,
        socket_connect_timeout=5.0,
        protocol=2,
    )
    return Redis.from_pool(pool)
