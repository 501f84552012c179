"""RedisMessageBus against a real redis-server: bounded stream, flow integration, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import BusEnvelope, Headers, Message, MessageBus, Node, create
from penguiflow.errors import ConfigError
from penguiflow.scaleout.redis_bus import RedisMessageBus


class Order(BaseModel):
    sku: str
    qty: int


def envelope(i: int, trace: str = "t") -> BusEnvelope:
    return BusEnvelope(edge="->n", source=None, target="n", trace_id=trace, payload={"i": i})


async def test_the_stream_stays_bounded_exactly(redis_url: str) -> None:
    async with RedisMessageBus(redis_url, stream="bus:exact", maxlen=50, approximate=False) as bus:
        assert isinstance(bus, MessageBus)
        for i in range(600):
            await bus.publish(envelope(i))
        assert await bus.length() == 50
        records = await bus.read(count=1000)
        assert [r.data["payload"]["i"] for r in records] == list(range(550, 600))


async def test_the_stream_stays_bounded_approximately(redis_url: str) -> None:
    async with RedisMessageBus(redis_url, stream="bus:approx", maxlen=100) as bus:
        for start in range(0, 1500, 50):
            await asyncio.gather(*(bus.publish(envelope(i)) for i in range(start, start + 50)))
        assert bus.dropped == 0
        length = await bus.length()
        assert 100 <= length < 300  # trimmed a whole internal node at a time


async def test_other_processes_can_follow_a_trace(redis_url: str) -> None:
    publisher = RedisMessageBus(redis_url, stream="bus:flow", maxlen=1000)
    observer = RedisMessageBus(redis_url, stream="bus:flow")

    async def price(message: Message, ctx: Any) -> Message:
        order = message.payload
        return message.model_copy(update={"payload": {"sku": order.sku, "total": order.qty * 3}})

    async def confirm(message: Message, ctx: Any) -> Message:
        return message.model_copy(update={"payload": {**message.payload, "ok": True}})

    a, b = Node(price, name="price"), Node(confirm, name="confirm")
    flow = create(a.to(b), message_bus=publisher, middlewares=[publisher.middleware()])
    flow.run()
    received: list[Any] = []

    async def follow() -> None:
        async for record in observer.subscribe(trace_id="order-1", block_s=0.1):
            received.append(record)
            if record.kind == "event" and record.data.get("event") == "node_success":
                if record.data.get("node_name") == "confirm":
                    return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.1)  # the follower starts from "now"
    try:
        await flow.emit(
            Message(
                payload=Order(sku="x", qty=2), headers=Headers(tenant="acme"), trace_id="order-1"
            )
        )
        await flow.emit(
            Message(payload=Order(sku="y", qty=1), headers=Headers(tenant="acme"), trace_id="other")
        )
        result = await flow.fetch(trace_id="order-1")
        assert result.payload == {"sku": "x", "total": 6, "ok": True}
        await asyncio.wait_for(follower, timeout=10)
    finally:
        follower.cancel()
        await flow.stop()
        await publisher.aclose()
        await observer.aclose()
    assert {r.trace_id for r in received} == {"order-1"}
    envelopes = [r.envelope() for r in received if r.kind == "envelope"]
    assert [e.target for e in envelopes] == ["price", "confirm"]
    assert envelopes[0].payload == {"sku": "x", "qty": 2}
    assert envelopes[0].headers is not None and envelopes[0].headers["tenant"] == "acme"
    kinds = [(r.data["event"], r.data["node_name"]) for r in received if r.kind == "event"]
    assert ("node_start", "price") in kinds and ("node_success", "confirm") in kinds
    with pytest.raises(ConfigError, match="not an envelope"):
        next(r for r in received if r.kind == "event").envelope()


async def test_a_dead_redis_never_breaks_the_flow() -> None:
    from pg_service import free_port

    bus = RedisMessageBus(f"redis://127.0.0.1:{free_port()}/0", publish_timeout_s=0.5)

    async def double(message: Any, ctx: Any) -> Any:
        return message * 2

    flow = create(Node(double, name="double"), message_bus=bus, middlewares=[bus.middleware()])
    flow.run()
    try:
        await flow.emit(21, trace_id="t1")
        assert await flow.fetch(trace_id="t1") == 42
    finally:
        await flow.stop()
        await bus.aclose()
    assert bus.dropped >= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"url": "redis://x", "maxlen": 0}, "maxlen"),
        ({"url": "redis://x", "publish_timeout_s": 0}, "publish_timeout_s"),
    ],
)
def test_bad_bus_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RedisMessageBus(**kwargs)
