"""Runtime overhead against plain asyncio doing the same work, measured in the same run.

- message hop through a chain of 1/5/20 nodes (envelopes with trace ids; payload-only)
- fan-out to 8 nodes + join_k
- 10,000 traces in flight through 3 sleeping nodes: wall time and memory per trace
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from _util import compare, report

from penguiflow import Headers, Message, Node, NodePolicy, create, join_k

MESSAGES = 2_000
HEADERS = Headers(tenant="bench")


async def passthrough(message: Any, ctx: Any) -> Any:
    return message


# -- plain asyncio baselines ---------------------------------------------------------------


async def asyncio_chain(length: int, items: list[Any]) -> None:
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue(64) for _ in range(length + 1)]

    async def stage(inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]) -> None:
        while True:
            item = await inbox.get()
            await outbox.put(await passthrough(item, None))

    tasks = [asyncio.create_task(stage(queues[i], queues[i + 1])) for i in range(length)]

    async def produce() -> None:
        for item in items:
            await queues[0].put(item)

    producer = asyncio.create_task(produce())
    for _ in items:
        await queues[-1].get()
    await producer
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def penguiflow_chain(length: int, items: list[Any]) -> None:
    nodes = [Node(passthrough, name=f"n{i}") for i in range(length)]
    edges = [nodes[i].to(nodes[i + 1]) for i in range(length - 1)] + [nodes[-1].to()]
    flow = create(*edges, queue_maxsize=64)
    flow.run()

    async def produce() -> None:
        for item in items:
            await flow.emit(item)

    producer = asyncio.create_task(produce())
    for _ in items:
        await flow.fetch()
    await producer
    await flow.stop()


async def asyncio_fanout(items: list[Message]) -> None:
    width = 8
    inbox: asyncio.Queue[Any] = asyncio.Queue(64)
    branch_queues: list[asyncio.Queue[Any]] = [asyncio.Queue(64) for _ in range(width)]
    join_queue: asyncio.Queue[Any] = asyncio.Queue(64)
    out: asyncio.Queue[Any] = asyncio.Queue(64)

    async def source() -> None:
        while True:
            item = await inbox.get()
            for q in branch_queues:
                await q.put(item)

    async def branch(q: asyncio.Queue[Any]) -> None:
        while True:
            item = await q.get()
            await join_queue.put(await passthrough(item, None))

    async def joiner() -> None:
        buckets: dict[str, list[Any]] = {}
        while True:
            item = await join_queue.get()
            bucket = buckets.setdefault(item.trace_id, [])
            bucket.append(item.payload)
            if len(bucket) == width:
                del buckets[item.trace_id]
                await out.put(item.model_copy(update={"payload": bucket}))

    tasks = [asyncio.create_task(source()), asyncio.create_task(joiner())]
    tasks += [asyncio.create_task(branch(q)) for q in branch_queues]

    async def produce() -> None:
        for item in items:
            await inbox.put(item)

    producer = asyncio.create_task(produce())
    for _ in items:
        await out.get()
    await producer
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def penguiflow_fanout(items: list[Message]) -> None:
    source = Node(passthrough, name="source")
    branches = [Node(passthrough, name=f"b{i}") for i in range(8)]
    join = join_k("join", 8)
    flow = create(source.to(*branches), *[b.to(join) for b in branches], join.to())
    flow.run()

    async def produce() -> None:
        for item in items:
            await flow.emit(item)

    producer = asyncio.create_task(produce())
    for _ in items:
        await flow.fetch()
    await producer
    await flow.stop()


async def sleeper(message: Any, ctx: Any) -> Any:
    await asyncio.sleep(0.01)
    return message


async def asyncio_many_traces(messages: list[Message]) -> None:
    async def one(message: Message) -> Any:
        for _ in range(3):
            message = await sleeper(message, None)
        return message

    await asyncio.gather(*(one(m) for m in messages))


async def penguiflow_many_traces(messages: list[Message]) -> None:
    policy = NodePolicy(max_concurrency=len(messages))
    a, b, c = (Node(sleeper, name=n, policy=policy) for n in "abc")
    flow = create(a.to(b), b.to(c), c.to(), queue_maxsize=len(messages))
    flow.run()

    async def one(message: Message) -> Any:
        await flow.emit(message)
        return await flow.fetch(trace_id=message.trace_id)

    await asyncio.gather(*(one(m) for m in messages))
    await flow.stop()


async def peak_memory(fn: Any, messages_factory: Any) -> int:
    messages = messages_factory()
    gc.collect()
    tracemalloc.start()
    try:
        await fn(messages)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def envelopes(n: int) -> list[Message]:
    return [Message(payload=i, headers=HEADERS, trace_id=f"t{i}") for i in range(n)]


HOP_ROUNDS = 15  # a round takes milliseconds: more rounds steady the best-of figure


async def main() -> bool:
    ok = True
    print("== runtime: PenguiFlow vs plain asyncio (same work, same run) ==")
    for length in (1, 5, 20):
        msgs = envelopes(MESSAGES)
        ours, base = await compare(
            HOP_ROUNDS,
            lambda n=length, m=msgs: asyncio_chain(n, m),
            lambda n=length, m=msgs: penguiflow_chain(n, m),
        )
        ok &= report(f"hop, chain of {length:>2}, Message envelopes + trace ids", ours, base, 3.0)
        plain = list(range(MESSAGES))
        ours, base = await compare(
            HOP_ROUNDS,
            lambda n=length, m=plain: asyncio_chain(n, m),
            lambda n=length, m=plain: penguiflow_chain(n, m),
        )
        ok &= report(f"hop, chain of {length:>2}, payload-only", ours, base, 2.5)
    msgs = envelopes(1_000)
    ours, base = await compare(5, lambda: asyncio_fanout(msgs), lambda: penguiflow_fanout(msgs))
    ok &= report("fan-out to 8 + join_k", ours, base, 4.0)
    traces = 10_000
    ours, base = await compare(
        5,
        lambda: asyncio_many_traces(envelopes(traces)),
        lambda: penguiflow_many_traces(envelopes(traces)),
    )
    ok &= report("10,000 traces in flight, 3 sleeping nodes (wall)", ours, base, 2.5)
    base_mem = await peak_memory(asyncio_many_traces, lambda: envelopes(traces))
    ours_mem = await peak_memory(penguiflow_many_traces, lambda: envelopes(traces))
    ok &= report(
        "10,000 traces in flight (peak bytes per trace)",
        ours_mem / traces,
        base_mem / traces,
        2.0,
        unit="B",
    )
    return ok


if __name__ == "__main__":
    asyncio.run(main())
