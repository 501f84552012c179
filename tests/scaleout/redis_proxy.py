"""A TCP proxy in front of the test redis-server, to cut one client off from Redis.

``freeze()`` holds every byte in both directions (a worker that hangs, or whose network
stalls): its calls and lease renewals stop reaching Redis until ``thaw()``. ``cut()``
closes every connection and refuses new ones (Redis went away) until ``restore()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit


class RedisProxy:
    """A proxy to ``upstream`` (``redis://host:port/db``); its own URL is :attr:`url`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}{self._path}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self._close_all()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    def freeze(self) -> None:
        """Hold all traffic, both ways, until :meth:`thaw`."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Let the held traffic and everything after it through."""
        self._flowing.set()

    def cut(self) -> None:
        """Close every connection and refuse new ones until :meth:`restore`."""
        self._refusing = True
        self._close_all()

    def restore(self) -> None:
        """Accept connections again."""
        self._refusing = False

    def _close_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                if sink.is_closing():
                    break
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()
            self._writers.discard(sink)
            with contextlib.suppress(ConnectionError, OSError):
                await sink.wait_closed()
