"""Quickstart: a two-node flow with envelopes, a retry policy and trace-scoped fetch."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str
    words: int


async def normalise(message: Message, ctx: object) -> Message:
    question = message.payload
    return message.model_copy(update={"payload": Question(text=question.text.strip())})


async def answer(message: Message, ctx: object) -> Message:
    text = message.payload.text
    return message.model_copy(
        update={"payload": Answer(text=text.upper(), words=len(text.split()))}
    )


async def main() -> None:
    normalise_node = Node(normalise, name="normalise", policy=NodePolicy(validate="none"))
    answer_node = Node(answer, name="answer", policy=NodePolicy(timeout_s=2.0, max_retries=1))
    registry = ModelRegistry()
    registry.register("answer", Question, Answer)

    flow = create(normalise_node.to(answer_node))
    flow.run(registry=registry)
    try:
        message = Message(
            payload=Question(text="  hello penguins  "), headers=Headers(tenant="demo")
        )
        await flow.emit(message)
        result = await flow.fetch(trace_id=message.trace_id, timeout=5)
        print(f"trace {message.trace_id[:8]}: {result.payload.text} ({result.payload.words} words)")
    finally:
        await flow.stop()


if __name__ == "__main__":
    asyncio.run(main())
