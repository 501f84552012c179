"""Traceable exceptions: ``FlowError`` and ``create(emit_errors_to_rookery=True)``."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from penguiflow import (
    FlowError,
    FlowErrorCode,
    FlowEvent,
    Headers,
    Message,
    Node,
    NodePolicy,
    create,
)
from penguiflow.errors import ConfigError


async def flaky(message, ctx):
    raise RuntimeError("upstream down")


def envelope(payload: object = "job") -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"))


async def test_with_the_opt_in_fetch_returns_the_flow_error() -> None:
    node = Node(flaky, name="flaky", policy=NodePolicy(max_retries=1, backoff_base=0))
    flow = create(node, emit_errors_to_rookery=True)
    flow.run()
    try:
        message = envelope()
        await flow.emit(message)
        error = await asyncio.wait_for(flow.fetch(), 2)
    finally:
        await flow.stop()
    assert isinstance(error, FlowError)
    assert error.code == FlowErrorCode.NODE_EXCEPTION
    assert (error.trace_id, error.node_name) == (message.trace_id, "flaky")
    assert error.node_id == node.node_id
    assert isinstance(error.unwrap(), RuntimeError) and error.exception_type == "RuntimeError"
    payload = error.to_payload()
    assert payload["code"] == "node_exception" and payload["node_name"] == "flaky"
    assert payload["exception_type"] == "RuntimeError"


async def test_the_opt_in_covers_flow_call_too() -> None:
    flow = create(Node(flaky, name="flaky"), emit_errors_to_rookery=True)
    flow.run()
    try:
        error = await flow.call(envelope(), to="flaky", timeout=2)
    finally:
        await flow.stop()
    assert isinstance(error, FlowError) and error.code is FlowErrorCode.NODE_EXCEPTION


async def test_by_default_the_failure_is_raised_from_fetch() -> None:
    flow = create(Node(flaky, name="flaky"))
    flow.run()
    try:
        message = envelope()
        await flow.emit(message)
        with pytest.raises(FlowError) as info:
            await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 2)
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.NODE_EXCEPTION
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_node_failed_events_carry_the_error_payload() -> None:
    failed: list[FlowEvent] = []

    async def record(event: FlowEvent) -> None:
        if event.event_type == "node_failed":
            failed.append(event)

    flow = create(Node(flaky, name="flaky"), middlewares=[record], emit_errors_to_rookery=True)
    flow.run()
    try:
        await flow.emit(envelope())
        await asyncio.wait_for(flow.fetch(), 2)
    finally:
        await flow.stop()
    assert failed[0].error_payload is not None
    assert failed[0].error_payload["node_name"] == "flaky"
    assert failed[0].error_payload["code"] == "node_exception"


def test_from_exception_wraps_the_original_error() -> None:
    cause = TimeoutError("slow upstream")
    error = FlowError.from_exception(
        trace_id="t1",
        node_name="fetch",
        node_id="fetch#1",
        exc=cause,
        code=FlowErrorCode.NODE_TIMEOUT,
        metadata={"attempt": 2},
    )
    assert error.message == "slow upstream"
    assert error.unwrap() is cause and error.__cause__ is cause
    assert error.to_payload() == {
        "code": "node_timeout",
        "message": "slow upstream",
        "trace_id": "t1",
        "node_name": "fetch",
        "node_id": "fetch#1",
        "exception_type": "TimeoutError",
        "metadata": {"attempt": 2},
    }
    nameless = FlowError.from_exception(
        trace_id=None, node_name=None, node_id=None, exc=ValueError(), code="NODE_EXCEPTION"
    )
    assert nameless.message == "ValueError" and nameless.code is FlowErrorCode.NODE_EXCEPTION


def test_flow_error_is_built_with_the_documented_keywords() -> None:
    error = FlowError(trace_id="t", node_name="n", code=FlowErrorCode.TRACE_CANCELLED, message="m")
    assert (error.trace_id, error.node_name, error.message) == ("t", "n", "m")
    assert error.to_payload() == {
        "code": "trace_cancelled",
        "message": "m",
        "trace_id": "t",
        "node_name": "n",
    }
    copy = pickle.loads(pickle.dumps(error))
    assert copy.to_payload() == error.to_payload()


def test_codes_are_looked_up_in_any_case_and_unknown_codes_are_refused() -> None:
    assert FlowErrorCode("HOP_BUDGET_EXHAUSTED") is FlowErrorCode.HOP_BUDGET_EXHAUSTED
    with pytest.raises(ConfigError, match="must be one of"):
        FlowError(trace_id=None, node_name=None, code="SOMETHING_ELSE", message="m")
