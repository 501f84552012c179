"""Playbooks and subflows: ``call_playbook`` returns the payload and follows cancellation."""

from __future__ import annotations

import asyncio

import pytest

from penguiflow import (
    FlowError,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    call_playbook,
    create,
)
from penguiflow.core import TraceCancelled


def build_retrieval_playbook():
    async def retrieve(msg: Message, ctx) -> Message:
        return msg.model_copy(update={"payload": f"docs for {msg.payload}"})

    flow = create(Node(retrieve, name="retrieve", policy=NodePolicy(validate="none")))
    return flow, ModelRegistry()


async def test_ctx_call_playbook_returns_the_payload_as_documented() -> None:
    async def controller(msg: Message, ctx) -> Message:
        playbook_result = await ctx.call_playbook(build_retrieval_playbook, msg)
        return msg.model_copy(update={"payload": playbook_result})

    flow = create(Node(controller, name="controller"))
    flow.run()
    try:
        message = Message(payload="penguins", headers=Headers(tenant="acme"))
        await flow.emit(message)
        out = await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 2)
    finally:
        await flow.stop()
    assert out.payload == "docs for penguins"


async def echo(message, ctx):
    return message


async def test_call_playbook_with_runtime_returns_the_payload() -> None:
    parent = create(Node(echo, name="echo"))
    parent.run()
    try:
        message = Message(payload="q", headers=Headers(tenant="acme"))
        result = await call_playbook(build_retrieval_playbook, message, runtime=parent)
    finally:
        await parent.stop()
    assert result == "docs for q"


async def test_cancelling_the_trace_in_the_runtime_cancels_the_playbook() -> None:
    gate = asyncio.Event()
    sub_started = asyncio.Event()
    subflows = []

    async def hold(message, ctx):
        await gate.wait()
        return message

    async def sleepy(message, ctx):
        sub_started.set()
        await asyncio.sleep(10)

    def playbook():
        flow = create(Node(sleepy, name="sleepy"))
        subflows.append(flow)
        return flow

    parent = create(Node(hold, name="hold"))
    parent.run()
    try:
        message = Message(payload="q", headers=Headers(tenant="acme"))
        await parent.emit(message)  # the trace is now in flight in the parent
        call = asyncio.create_task(call_playbook(playbook, message, runtime=parent))
        await sub_started.wait()
        await parent.cancel(message.trace_id)
        with pytest.raises(TraceCancelled):
            await asyncio.wait_for(call, 2)
    finally:
        gate.set()
        await parent.stop()
    assert subflows[0].state.value == "stopped"


async def test_a_failing_playbook_raises_instead_of_hanging() -> None:
    async def broken(message, ctx):
        raise RuntimeError("index offline")

    def playbook():
        return create(Node(broken, name="broken")), None

    with pytest.raises(FlowError, match="index offline"):
        await asyncio.wait_for(
            call_playbook(playbook, Message(payload="q", headers=Headers(tenant="a"))), 2
        )
