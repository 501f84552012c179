"""HttpRemoteTransport and RemoteNode against an agent served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scaleout_helpers import build_planner, free_port, serve_in_thread

from penguiflow import (
    Headers,
    Message,
    RemoteCallRequest,
    RemoteTransport,
    StreamChunk,
    TraceCancelled,
    create,
)
from penguiflow.errors import ConfigError
from penguiflow.scaleout.remote import (
    HttpRemoteTransport,
    RemoteCallError,
    RemoteNode,
    RemoteTimeoutError,
)
from penguiflow.server import create_agent_app
from penguiflow.state import InMemoryStateStore

ACME = {"tenant": "acme"}


@pytest.fixture(scope="module")
def agent_url() -> Iterator[str]:
    app = create_agent_app(build_planner, keepalive_s=0.2)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
async def transport() -> Any:
    async with HttpRemoteTransport(read_timeout_s=10) as remote:
        yield remote


async def remote_status(agent_url: str, task_id: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{agent_url}/runs/{task_id}", headers={"X-Tenant-ID": "acme"})
        return str(response.json()["status"])


async def wait_status(agent_url: str, task_id: str, status: str) -> None:
    for _ in range(200):
        if await remote_status(agent_url, task_id) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"remote run {task_id} never became {status}")


async def test_send_returns_the_remote_result(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    assert isinstance(transport, RemoteTransport)
    result = await transport.send(
        RemoteCallRequest(agent_url=agent_url, message="echo:hi", meta=ACME, timeout_s=20)
    )
    assert result.meta["status"] == "finished" and result.task_id
    assert result.result["payload"]["raw_answer"] == "echo: echo:hi"


async def test_stream_yields_the_task_then_text_then_the_result(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    request = RemoteCallRequest(
        agent_url=agent_url, message={"query": "sleep:0.2"}, trace_id="t-1", meta=ACME
    )
    events = [event async for event in transport.stream(request)]
    assert events[0].task_id and events[0].meta["event"] == "started" and events[0].text is None
    assert [e.text for e in events if e.text] == ["sleeping 0.2s"]
    assert events[-1].done and events[-1].result["payload"]["raw_answer"] == "done: sleep:0.2"
    assert all(e.task_id == events[0].task_id for e in events)


async def test_timeout_cancels_the_remote_run(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    request = RemoteCallRequest(agent_url=agent_url, message="sleep:30", meta=ACME, timeout_s=0.5)
    with pytest.raises(RemoteTimeoutError) as info:
        await transport.send(request)
    assert isinstance(info.value, TimeoutError) and info.value.task_id
    assert await remote_status(agent_url, info.value.task_id) == "cancelled"
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, RemoteTimeoutError) and copy.task_id == info.value.task_id


async def test_a_consumer_that_stops_early_cancels_the_remote_run(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    stream = transport.stream(RemoteCallRequest(agent_url=agent_url, message="sleep:30", meta=ACME))
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.task_id is not None
    assert await remote_status(agent_url, first.task_id) == "cancelled"


async def test_cancelling_the_trace_cancels_the_remote_run(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    store = InMemoryStateStore()
    node = RemoteNode(transport=transport, agent_url=agent_url, name="remote", state_store=store)
    flow = create(node)
    flow.run()
    try:
        message = Message(payload="sleep:30", headers=Headers(tenant="acme"), trace_id="call-1")
        await flow.emit(message)
        chunk = await flow.fetch(trace_id="call-1", timeout=20)
        assert isinstance(chunk.payload, StreamChunk) and chunk.payload.text == "sleeping 30.0s"
        (binding,) = store.bindings
        assert binding.trace_id == "call-1" and binding.agent_url == agent_url
        assert await flow.cancel("call-1")
        with pytest.raises(TraceCancelled):
            await flow.fetch(trace_id="call-1", timeout=5)
        await wait_status(agent_url, binding.task_id, "cancelled")
    finally:
        await flow.stop()


async def test_remote_node_returns_the_result_as_the_payload(
    agent_url: str, transport: HttpRemoteTransport
) -> None:
    flow = create(RemoteNode(transport=transport, agent_url=agent_url, name="remote", timeout_s=20))
    flow.run()
    try:
        await flow.emit(Message(payload="echo:x", headers=Headers(tenant="acme"), trace_id="r-1"))
        result = await flow.fetch(trace_id="r-1", timeout=20)
        assert result.headers.tenant == "acme"
        assert result.payload["payload"]["raw_answer"] == "echo: echo:x"
    finally:
        await flow.stop()


async def test_remote_failures_are_typed(agent_url: str, transport: HttpRemoteTransport) -> None:
    with pytest.raises(RemoteCallError, match="crashed") as failed:
        await transport.send(RemoteCallRequest(agent_url=agent_url, message="crash:now", meta=ACME))
    assert failed.value.task_id
    with pytest.raises(RemoteCallError) as refused:  # no tenant: the agent answers 401
        await transport.send(RemoteCallRequest(agent_url=agent_url, message="echo:x"))
    assert refused.value.status_code == 401
    with pytest.raises(RemoteCallError, match="ConnectError"):
        await transport.send(
            RemoteCallRequest(agent_url=f"http://127.0.0.1:{free_port()}", message="q", meta=ACME)
        )
    with pytest.raises(ConfigError, match="query"):
        await transport.send(RemoteCallRequest(agent_url=agent_url, message=42, meta=ACME))


async def test_bad_remote_arguments_are_refused(transport: HttpRemoteTransport) -> None:
    with pytest.raises(ConfigError, match="agent_url"):
        RemoteNode(transport=transport, agent_url="ftp://x", name="r")
    with pytest.raises(ConfigError, match="timeout_s"):
        RemoteNode(transport=transport, agent_url="http://x", name="r", timeout_s=0)
    with pytest.raises(ConfigError, match="read_timeout_s"):
        HttpRemoteTransport(read_timeout_s=0)
