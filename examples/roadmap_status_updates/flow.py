"""Streaming: a node reports progress as numbered status chunks, then a final answer.

Run it with ``python examples/roadmap_status_updates/flow.py``.
"""

from __future__ import annotations

import asyncio

from penguiflow import Context, FinalAnswer, Headers, Message, Node, NodePolicy, StreamChunk, create

ROADMAP = {
    "runtime": "shipped",
    "planner": "in review",
    "memory": "in progress",
}


async def status_updates(message: Message, ctx: Context) -> Message:
    for area, status in ROADMAP.items():
        await asyncio.sleep(0.01)  # pretend to look it up
        await ctx.emit_chunk(parent=message, text=f"{area}: {status}")
    await ctx.emit_chunk(parent=message, text="", done=True)
    summary = ", ".join(f"{area} {status}" for area, status in ROADMAP.items())
    return message.model_copy(update={"payload": FinalAnswer(text=f"Roadmap: {summary}.")})


async def main() -> None:
    node = Node(status_updates, name="status_updates", policy=NodePolicy(timeout_s=5))
    flow = create(node.to())
    flow.run()
    try:
        message = Message(payload="roadmap?", headers=Headers(tenant="demo"))
        await flow.emit(message)
        while True:
            result = await flow.fetch(trace_id=message.trace_id, timeout=5)
            payload = result.payload
            if isinstance(payload, StreamChunk):
                if payload.text:
                    print(f"[{payload.seq}] {payload.text}")
                continue
            assert isinstance(payload, FinalAnswer)
            print(payload.text)
            break
    finally:
        await flow.stop()


if __name__ == "__main__":
    asyncio.run(main())
