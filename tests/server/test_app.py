"""The agent HTTP app on a real uvicorn server: runs, events, cancel, tenants, validation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scaleout_helpers import build_planner, serve_in_thread

from penguiflow.errors import ConfigError
from penguiflow.server import create_agent_app

ACME = {"X-Tenant-ID": "acme"}
GLOBEX = {"X-Tenant-ID": "globex"}


@pytest.fixture(scope="module")
def agent_url() -> Iterator[str]:
    app = create_agent_app(build_planner, keepalive_s=0.2)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
async def client(agent_url: str) -> Any:
    async with httpx.AsyncClient(base_url=agent_url, timeout=30) as http:
        yield http


async def sse_events(
    client: httpx.AsyncClient, run_id: str, headers: dict[str, str]
) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    kind = "message"
    async with client.stream("GET", f"/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "end":
                    break
    return events


async def test_a_run_with_wait_returns_its_result(client: httpx.AsyncClient) -> None:
    response = await client.post("/runs", json={"query": "echo:hello", "wait": True}, headers=ACME)
    assert response.status_code == 200
    record = response.json()
    assert record["status"] == "finished" and record["kind"] == "run"
    assert record["result"]["type"] == "finish"
    assert record["result"]["payload"]["raw_answer"] == "echo: echo:hello"


async def test_events_stream_then_end_with_the_record(client: httpx.AsyncClient) -> None:
    started = await client.post(
        "/runs", json={"query": "sleep:0.3", "run_id": "sse-1"}, headers=ACME
    )
    assert started.status_code == 202 and started.json()["status"] == "running"
    events = await sse_events(client, "sse-1", ACME)
    kinds = [k for k, _ in events]
    assert kinds[0] == "step_start" and kinds[-1] == "end"
    assert "tool_call_start" in kinds and "tool_call_result" in kinds
    chunk = next(data for k, data in events if k == "stream_chunk")
    assert chunk["text"] == "sleeping 0.3s" and chunk["run_id"] == "sse-1"
    assert events[-1][1]["status"] == "finished"
    # Replaying after the last event id only gives the end.
    again = await client.get("/runs/sse-1/events", params={"after": 10_000}, headers=ACME)
    assert again.text.count("event: end") == 1 and "step_start" not in again.text


async def test_another_tenant_sees_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/runs", json={"query": "sleep:5", "run_id": "acme-secret"}, headers=ACME)
    for method, path in (
        ("GET", "/runs/acme-secret"),
        ("GET", "/runs/acme-secret/events"),
        ("POST", "/runs/acme-secret/cancel"),
    ):
        response = await client.request(method, path, headers=GLOBEX)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": "no such run"}
    assert (await client.get("/runs/does-not-exist", headers=ACME)).status_code == 404
    # The run is untouched and still belongs to acme.
    record = (await client.get("/runs/acme-secret", headers=ACME)).json()
    assert record["status"] == "running"
    await client.post("/runs/acme-secret/cancel", headers=ACME)


async def test_requests_without_a_tenant_are_refused(client: httpx.AsyncClient) -> None:
    for method, path in (("POST", "/runs"), ("GET", "/runs/x"), ("GET", "/pauses")):
        response = await client.request(method, path, json={"query": "q"})
        assert response.status_code == 401, path
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_cancel_stops_a_running_run(client: httpx.AsyncClient) -> None:
    await client.post("/runs", json={"query": "sleep:30", "run_id": "to-cancel"}, headers=ACME)
    kinds: list[str] = []
    record: dict[str, Any] = {}
    async with client.stream("GET", "/runs/to-cancel/events", headers=ACME) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
                if kinds[-1] == "tool_call_start":  # the slow tool is running: cancel
                    cancelled = await client.post("/runs/to-cancel/cancel", headers=ACME)
                    assert cancelled.status_code == 200
                    assert cancelled.json()["status"] == "cancelled"
            elif line.startswith("data: ") and kinds[-1] == "end":
                record = json.loads(line.removeprefix("data: "))
                break
    assert record["status"] == "cancelled" and record["finished_at"] is not None
    assert "tool_call_result" not in kinds


async def test_bad_requests_are_explained(client: httpx.AsyncClient) -> None:
    empty = await client.post("/runs", json={"query": ""}, headers=ACME)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["loc"] == "query"
    unknown = await client.post("/runs", json={"query": "q", "nope": 1}, headers=ACME)
    assert unknown.status_code == 422
    bad_id = await client.post("/runs", json={"query": "q", "run_id": "../etc"}, headers=ACME)
    assert bad_id.status_code == 422
    not_json = await client.post("/runs", content=b"{", headers=ACME)
    assert not_json.status_code == 422
    first = await client.post(
        "/runs", json={"query": "echo:1", "run_id": "dup", "wait": True}, headers=ACME
    )
    assert first.status_code == 200
    second = await client.post("/runs", json={"query": "echo:2", "run_id": "dup"}, headers=ACME)
    assert second.status_code == 409
    # Run ids are per tenant: another tenant's "dup" is its own run (and reveals nothing).
    theirs = await client.post("/runs", json={"query": "echo:3", "run_id": "dup"}, headers=GLOBEX)
    assert theirs.status_code == 202
    bad_after = await client.get("/runs/dup/events", params={"after": "x"}, headers=ACME)
    assert bad_after.status_code == 400


async def test_pauses_need_a_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/pauses", headers=ACME)
    assert response.status_code == 501
    resume = await client.post("/resume", json={"token": "t" * 43}, headers=ACME)
    assert resume.status_code == 501


async def test_a_custom_tenant_resolver_and_tool_context() -> None:
    seen: list[Any] = []

    def tenant_from_token(request: Any) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer tenant-") or None

    async def tool_context(request: Any, tenant: str) -> dict[str, str]:
        seen.append(tenant)
        return {"tenant": tenant}

    app = create_agent_app(
        build_planner, tenant_from_request=tenant_from_token, tool_context_from_request=tool_context
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
        ok = await http.post(
            "/runs",
            json={"query": "echo:x", "wait": True},
            headers={"Authorization": "Bearer tenant-initech"},
        )
        assert ok.status_code == 200 and seen == ["initech"]
        refused = await http.post("/runs", json={"query": "echo:x"}, headers=ACME)
        assert refused.status_code == 401
    await app.state.agent.aclose()


def test_bad_app_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_runs"):
        create_agent_app(build_planner, max_runs=0)
    with pytest.raises(ConfigError, match="keepalive_s"):
        create_agent_app(build_planner, keepalive_s=0)
    with pytest.raises(ConfigError, match="callable"):
        create_agent_app("planner")  # type: ignore[arg-type]


def test_the_http_app_does_not_import_litellm_or_sqlalchemy() -> None:
    code = (
        "import sys, penguiflow.server\n"
        "print([m for m in ('litellm', 'sqlalchemy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
