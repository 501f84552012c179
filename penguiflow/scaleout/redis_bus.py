"""``RedisMessageBus``: a :class:`~penguiflow.MessageBus` on a bounded Redis stream.

Every envelope a flow publishes (each message entering a node), and every ``FlowEvent``
when the bus is added as a middleware, becomes one entry of a Redis stream capped at
about ``maxlen`` entries, so other processes can observe runs as they happen::

    bus = RedisMessageBus("redis://localhost:6379/0", maxlen=10_000)
    flow = create(a.to(b), message_bus=bus, middlewares=[bus.middleware()])
    ...
    async for record in bus.subscribe(trace_id="req-1"):   # in another process
        print(record.kind, record.data)

Payloads are stored as JSON (pydantic models dumped, anything else as its ``repr``).
Needs the ``redis`` extra (``pip install 'penguiflow[redis]'``).
"""

from __future__ import annotations

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "penguiflow.scaleout.redis_bus needs redis-py: install the redis extra with "
        "`pip install 'penguiflow[redis]'`"
    ) from exc

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic_core import to_jsonable_python

from .._typing import Middleware
from ..bus import BusEnvelope
from ..errors import ConfigError
from ..events import FlowEvent
from ._redis_client import open_client
from .errors import QueueBackendError

__all__ = ["BusRecord", "RedisMessageBus"]

logger = logging.getLogger("penguiflow.bus")


@dataclass(frozen=True, slots=True)
class BusRecord:
    """One entry read back from the bus.

    Attributes:
        id: the stream entry id (pass it as ``last_id`` to read on from there).
        kind: ``envelope`` (a message entering a node) or ``event`` (a ``FlowEvent``).
        trace_id: the trace involved, if any.
        data: the envelope's fields, or the event's payload (``FlowEvent.to_payload()``).
    """

    id: str
    kind: Literal["envelope", "event"]
    trace_id: str | None
    data: dict[str, Any]

    def envelope(self) -> BusEnvelope:
        """Rebuild the :class:`BusEnvelope` of an ``envelope`` record.

        Raises:
            ConfigError: the record is an event.
        """
        if self.kind != "envelope":
            raise ConfigError(f"bus record {self.id} is a {self.kind}, not an envelope")
        d = self.data
        return BusEnvelope(
            edge=d["edge"],
            source=d.get("source"),
            target=d.get("target"),
            trace_id=d.get("trace_id"),
            payload=d.get("payload"),
            headers=d.get("headers"),
            meta=d.get("meta") or {},
        )


class RedisMessageBus:
    """Publishes flow envelopes and events to a Redis stream capped near ``maxlen``.

    Args:
        url: a ``redis://`` URL; the bus opens and closes its own client.
        client: a ``redis.asyncio.Redis`` created with ``decode_responses=True`` and
            ``socket_timeout=None`` (exclusive with ``url``); the bus does not close it.
            (With a socket timeout, redis-py sends through ``asyncio.wait_for``, which on
            Python 3.11 can lose a cancellation; the bus bounds its calls itself.)
        stream: the stream's key.
        maxlen: the stream keeps about this many of the newest entries.
        approximate: trim with ``MAXLEN ~`` (cheap; the stream may exceed ``maxlen`` by
            up to one internal node, 100 entries by default) instead of exactly.
        publish_timeout_s: a publish taking longer is abandoned and logged, so a slow
            Redis never stalls the flow for long.
        max_connections: size of the connection pool opened for ``url`` (publishers
            wait for a free connection, within ``publish_timeout_s``).

    Raises:
        ConfigError: a bad argument.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        stream: str = "penguiflow:bus",
        maxlen: int = 10_000,
        approximate: bool = True,
        publish_timeout_s: float = 1.0,
        max_connections: int = 50,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigError(
                "RedisMessageBus needs exactly one of url='redis://host:6379/0' or "
                "client=Redis(...)"
            )
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ConfigError(f"RedisMessageBus(maxlen=...) must be an int >= 1, got {maxlen!r}")
        if (
            not isinstance(publish_timeout_s, int | float)
            or not math.isfinite(publish_timeout_s)
            or publish_timeout_s <= 0
        ):
            raise ConfigError(
                f"RedisMessageBus(publish_timeout_s=...) must be > 0, got {publish_timeout_s!r}"
            )
        if client is None:
            assert url is not None
            client = open_client(url, max_connections=max_connections, owner="RedisMessageBus")
            self._owns_client = True
        else:
            self._owns_client = False
        self._redis: Redis = client
        self.stream = stream
        self.maxlen = maxlen
        self._approximate = approximate
        self._timeout_s = float(publish_timeout_s)
        self.dropped = 0
        """Publishes abandoned because Redis failed or was too slow."""

    async def _add(self, kind: str, trace_id: str | None, data: dict[str, Any]) -> None:
        fields: dict[Any, Any] = {
            "kind": kind,
            "trace_id": trace_id or "",
            "data": json.dumps(to_jsonable_python(data, fallback=repr), separators=(",", ":")),
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.xadd(
                    self.stream, fields, maxlen=self.maxlen, approximate=self._approximate
                )
        except (RedisError, TimeoutError) as exc:
            self.dropped += 1
            logger.warning(
                "bus publish dropped: %s", type(exc).__name__, extra={"trace_id": trace_id}
            )

    async def publish(self, envelope: BusEnvelope) -> None:
        """Add one envelope to the stream (the :class:`~penguiflow.MessageBus` method).

        Never raises for a Redis failure or timeout: the publish is dropped, counted in
        :attr:`dropped` and logged.
        """
        data = {
            "edge": envelope.edge,
            "source": envelope.source,
            "target": envelope.target,
            "trace_id": envelope.trace_id,
            "payload": envelope.payload,
            "headers": dict(envelope.headers) if envelope.headers is not None else None,
            "meta": dict(envelope.meta),
        }
        await self._add("envelope", envelope.trace_id, data)

    async def publish_event(self, event: FlowEvent) -> None:
        """Add one ``FlowEvent`` to the stream (dropped and logged if Redis fails)."""
        await self._add("event", event.trace_id, event.to_payload())

    def middleware(self) -> Middleware:
        """Return a flow middleware that publishes every ``FlowEvent`` to this bus."""

        async def publish_flow_event(event: FlowEvent) -> None:
            await self.publish_event(event)

        return publish_flow_event

    async def read(
        self, *, last_id: str = "0-0", count: int = 100, block_s: float | None = None
    ) -> list[BusRecord]:
        """Return up to ``count`` records after ``last_id`` (oldest first).

        Args:
            last_id: read entries newer than this id (``"0-0"``: from the oldest kept).
            count: most records to return.
            block_s: wait up to this long for a record when there is none yet.

        Raises:
            QueueBackendError: Redis failed.
        """
        block = None if block_s is None else max(int(block_s * 1000), 1)
        try:
            async with asyncio.timeout((block_s or 0.0) + 10.0):
                reply: Any = await self._redis.xread(
                    {self.stream: last_id}, count=count, block=block
                )
        except (RedisError, TimeoutError) as exc:
            raise QueueBackendError("read", self.stream, f"{type(exc).__name__}: {exc}") from exc
        if not reply:
            return []
        groups = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
        records: list[BusRecord] = []
        for entries in groups:
            for entry_id, fields in entries:
                records.append(_record(str(entry_id), fields))
        return records

    async def subscribe(
        self, *, last_id: str = "$", trace_id: str | None = None, block_s: float = 1.0
    ) -> AsyncIterator[BusRecord]:
        """Yield records as they are published, forever (break out to stop).

        Args:
            last_id: start after this id (``"$"``: only records published from now on,
                ``"0-0"``: everything the stream still holds).
            trace_id: only the records of this trace.
            block_s: how long each read waits before trying again.
        """
        if last_id == "$":
            newest: Any = await self._redis.xrevrange(self.stream, count=1)
            last_id = str(newest[0][0]) if newest else "0-0"
        while True:
            for record in await self.read(last_id=last_id, block_s=block_s):
                last_id = record.id
                if trace_id is None or record.trace_id == trace_id:
                    yield record

    async def length(self) -> int:
        """How many entries the stream holds now."""
        return int(await self._redis.xlen(self.stream))

    async def aclose(self) -> None:
        """Close the client if the bus opened it; idempotent."""
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _record(entry_id: str, fields: dict[str, Any]) -> BusRecord:
    kind = fields.get("kind", "envelope")
    try:
        data = json.loads(fields.get("data", "{}"))
    except ValueError:
        data = {"unreadable": fields.get("data")}
    return BusRecord(
        id=entry_id,
        kind="event" if kind == "event" else "envelope",
        trace_id=fields.get("trace_id") or None,
        data=data if isinstance(data, dict) else {"value": data},
    )
