"""Run ids are scoped by tenant in the HTTP app: events route by (tenant, run), the same id
in two tenants is two runs, and no response reveals another tenant's ids (SQLite +
PostgreSQL, the app on the test's event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import FunctionLLM, ReactPlanner, ToolContext
from penguiflow.server import create_agent_app
from penguiflow.sessions import RunStatus, SqlSessionStore

ACME = {"X-Tenant-ID": "acme"}
GLOBEX = {"X-Tenant-ID": "globex"}


class Note(BaseModel):
    text: str


@tool(desc="Send a note (a human approves first)", side_effects="write", requires_approval=True)
async def send_note(args: Note, ctx: ToolContext) -> Note:
    return Note(text=f"sent {args.text}")


@tool(desc="Look something up, slowly", side_effects="read")
async def look_up(args: Note, ctx: ToolContext) -> Note:
    gate = ctx.tool_context
    gate["started"].set()
    await gate["release"].wait()
    return Note(text=f"secret of {ctx.tenant_id}: {args.text}")


def _reply(messages: list[dict[str, Any]], _format: Any) -> dict[str, Any]:
    """``note:<x>``: send a note (approval), then look it up; ``echo:<x>``: answer."""
    query = messages[1]["content"].split("Query:", 1)[-1].strip().splitlines()[0]
    name, _, value = query.partition(":")
    done = sum(1 for m in messages if m["role"] == "assistant")
    if name == "note" and done == 0:
        return {"next_node": "send_note", "args": {"text": value}}
    if name == "note" and done == 1:
        return {"next_node": "look_up", "args": {"text": value}}
    return {"next_node": "final_response", "args": {"answer": f"{query} (after {done})"}}


@pytest.fixture
async def agent(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any], Any, Any]]:
    gate = {"started": asyncio.Event(), "release": asyncio.Event()}
    async with SqlSessionStore(db_url) as store:

        def build(callback: Any) -> ReactPlanner:
            registry = ModelRegistry()
            registry.register("send_note", Note, Note)
            registry.register("look_up", Note, Note)
            return ReactPlanner(
                llm_client=FunctionLLM(_reply),
                nodes=[Node(send_note, name="send_note"), Node(look_up, name="look_up")],
                registry=registry,
                event_callback=callback,
                state_store=store,
            )

        app = create_agent_app(
            build, store=store, tool_context_from_request=lambda request, tenant: gate
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
            try:
                yield http, gate, store, build
            finally:
                gate["release"].set()
                await app.state.agent.aclose()


async def _events(http: httpx.AsyncClient, run_id: str, headers: dict[str, str]) -> list[Any]:
    """The events of a run, read until its stream ends (when the run does)."""
    response = await http.get(f"/runs/{run_id}/events", headers=headers)
    assert response.status_code == 200
    events, kind = [], ""
    for line in response.text.splitlines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


async def test_another_tenant_cannot_capture_a_runs_events(agent: Any) -> None:
    http, gate, _, build = agent
    async with build(None) as elsewhere:  # acme's run was started in another process
        paused = await elsewhere.run("note:hello", run_id="job-1", tenant_id="acme")
    token = paused.resume_token
    resumed = await http.post("/resume", json={"token": token, "approve": True}, headers=ACME)
    assert resumed.status_code == 202
    resume_id = resumed.json()["run_id"]
    await asyncio.wait_for(gate["started"].wait(), 30)  # acme's run job-1 is working

    # globex starts a run with the same id while acme's is running: its own run.
    theirs = await http.post(
        "/runs", json={"query": "echo:mine", "run_id": "job-1", "wait": True}, headers=GLOBEX
    )
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["result"]["payload"]["raw_answer"] == "echo:mine (after 0)"
    gate["release"].set()
    acme_events = await asyncio.wait_for(_events(http, resume_id, ACME), 30)  # ends with the run
    kinds = [kind for kind, _ in acme_events]
    assert "tool_call_result" in kinds and kinds[-2:] == ["finish", "end"], kinds
    assert acme_events[-1][1]["status"] == "finished"
    globex_events = await _events(http, "job-1", GLOBEX)
    assert "secret of acme" not in json.dumps(globex_events)
    assert {data.get("tenant_id") for kind, data in globex_events if kind != "end"} == {"globex"}
    # globex reads its own run job-1; acme's run job-1 is served under its resume id.
    assert (await http.get("/runs/job-1", headers=GLOBEX)).json()["status"] == "finished"
    assert (await http.get("/runs/job-1", headers=ACME)).status_code == 404


async def test_one_client_chosen_id_in_two_tenants_is_two_runs(agent: Any) -> None:
    http, _, store, _ = agent
    first = await http.post(
        "/runs", json={"query": "echo:a", "run_id": "job-123", "wait": True}, headers=GLOBEX
    )
    assert first.status_code == 200
    # acme's later run with the id globex took first works, and learns nothing of it.
    second = await http.post(
        "/runs", json={"query": "echo:b", "run_id": "job-123", "wait": True}, headers=ACME
    )
    assert second.status_code == 200, second.text
    assert second.json()["result"]["payload"]["raw_answer"] == "echo:b (after 0)"
    for tenant, answer in (("acme", "echo:b"), ("globex", "echo:a")):
        run = await store.get_run("job-123", tenant_id=tenant)
        assert run.status is RunStatus.FINISHED and run.state["query"] == answer
    # Within a tenant the id stays unique, whether the run is in memory or only stored.
    again = await http.post("/runs", json={"query": "echo:c", "run_id": "job-123"}, headers=ACME)
    assert again.status_code == 409
    assert again.json() == {"detail": "run id 'job-123' is already in use; choose another"}
    await store.create_run(tenant_id="acme", run_id="made-elsewhere", status=RunStatus.FINISHED)
    taken = await http.post(
        "/runs", json={"query": "echo:d", "run_id": "made-elsewhere"}, headers=ACME
    )
    assert taken.status_code == 409
    mine = await http.post(
        "/runs", json={"query": "echo:e", "run_id": "made-elsewhere", "wait": True}, headers=GLOBEX
    )
    assert mine.status_code == 200
    assert (await store.get_run("made-elsewhere", tenant_id="acme")).state == {}  # untouched


async def test_without_store_the_app_uses_the_planners_store(db_url: str) -> None:
    async with SqlSessionStore(db_url) as store:
        paused = await store.create_run(tenant_id="acme", run_id="r-1")
        await store.create_pause(
            paused.run_id,
            tenant_id="acme",
            reason="approval",
            run_state={},
            expected_run_version=paused.version,
        )

        registry = ModelRegistry()
        registry.register("look_up", Note, Note)

        def build(callback: Any) -> ReactPlanner:
            return ReactPlanner(
                llm_client=FunctionLLM(_reply),
                nodes=[Node(look_up, name="look_up")],
                registry=registry,
                event_callback=callback,
                state_store=store,
            )

        app = create_agent_app(build)  # no store=: the planner's is used
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
            try:
                # The first request of the app: the planner is built to find its store.
                pauses = await http.get("/pauses", headers={"X-Tenant-ID": "acme"})
                assert pauses.status_code == 200, pauses.text
                assert [p["run_id"] for p in pauses.json()["pauses"]] == ["r-1"]
            finally:
                await app.state.agent.aclose()
