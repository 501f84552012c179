"""The playground's API on a real uvicorn server: access, runs, trajectories, approvals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playground_agent import CALLS, TOKEN, make_agent, serve

from penguiflow.errors import ConfigError
from penguiflow.server.playground import SecretMasker, create_playground_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"SERVICE_API_KEY": "sk-live-abcdefghijklmnop1234"}
    with serve(tmp_path_factory.mktemp("api"), environ=env) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> Any:
    CALLS.clear()
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=30) as http:
        yield http


async def finish(client: httpx.AsyncClient, handle_id: str) -> dict[str, Any]:
    """Read a live run's events to the end; return the end record."""
    async with client.stream("GET", f"/api/runs/{handle_id}/events") as response:
        assert response.status_code == 200
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "end":
                return json.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError("the stream ended without an end event")


async def ask(client: httpx.AsyncClient, query: str, session: str = "s-api") -> dict[str, Any]:
    started = await client.post("/api/runs", json={"query": query, "session_id": session})
    assert started.status_code == 202
    return await finish(client, started.json()["run_id"])


async def pending_pause(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    pauses = (await client.get("/api/pauses", params={"status": "pending"})).json()["pauses"]
    return next(p for p in pauses if p["run_id"] == run_id)


def test_the_token_guards_the_api_but_not_the_page(base_url: str) -> None:
    assert httpx.get(f"{base_url}/api/info").status_code == 401
    wrong = httpx.get(f"{base_url}/api/info", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    page = httpx.get(f"{base_url}/")
    assert page.status_code == 200 and "PenguiFlow playground" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{base_url}/static/app.js").status_code == 200
    info = httpx.get(f"{base_url}/api/info", headers=AUTH).json()
    assert info["name"] == "playground-test" and info["tools"] == 3


def test_a_foreign_host_header_is_refused(base_url: str) -> None:
    response = httpx.get(f"{base_url}/health", headers={"Host": "attacker.example"})
    assert response.status_code == 400


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    agent = make_agent(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(ConfigError, match="16"):
        create_playground_app(agent, token="short")


async def test_a_run_streams_then_its_trajectory_has_timing_tokens_and_exchanges(
    client: httpx.AsyncClient,
) -> None:
    end = await ask(client, "weather in Paris")
    assert end["status"] == "finished"
    assert end["result"]["answer"] == "It is sunny in Paris."
    detail = (await client.get(f"/api/runs/{end['planner_run_id']}")).json()
    assert detail["run"]["query"] == "weather in Paris" and detail["run"]["session_id"] == "s-api"
    assert detail["result"]["answer"] == "It is sunny in Paris."
    steps = detail["trajectory"]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and detail["trajectory"]["recorded"]
    (tool,) = steps[0]["tools"]
    assert tool["tool"] == "lookup" and tool["status"] == "ok"
    assert tool["args"] == {"city": "Paris"}
    assert tool["result"] == {"city": "Paris", "forecast": "sunny"}
    assert tool["end"] >= tool["start"] and tool["latency_ms"] >= 0
    assert steps[0]["tokens"] == 140 and steps[0]["cost_usd"] == pytest.approx(0.0004)
    exchange = detail["exchanges"][steps[0]["exchanges"][0]]
    assert exchange["messages"][0]["role"] == "system"
    assert json.loads(exchange["reply"])["next_node"] == "lookup"
    assert CALLS["lookup"] == 1


async def test_parallel_calls_share_a_step(client: httpx.AsyncClient) -> None:
    end = await ask(client, "compare Paris and Oslo")
    assert end["result"]["answer"] == "Paris: sunny; Oslo: snow"
    detail = (await client.get(f"/api/runs/{end['planner_run_id']}")).json()
    tools = detail["trajectory"]["steps"][0]["tools"]
    assert sorted(t["args"]["city"] for t in tools) == ["Oslo", "Paris"]


async def test_secrets_are_masked_in_recorded_exchanges(client: httpx.AsyncClient) -> None:
    end = await ask(client, "weather in sk-live-abcdefghijklmnop1234")
    detail = (await client.get(f"/api/runs/{end['planner_run_id']}")).json()
    text = json.dumps(detail)
    assert "abcdefghijklmnop1234" not in text and "***" in text


async def test_runs_list_filters_by_status_and_session(client: httpx.AsyncClient) -> None:
    await ask(client, "weather in Rome", session="s-filter")
    paused = await ask(client, "announce filters work", session="s-filter")
    assert paused["status"] == "paused"
    listed = (await client.get("/api/runs", params={"session_id": "s-filter"})).json()["runs"]
    assert {r["query"] for r in listed} == {"weather in Rome", "announce filters work"}
    only_paused = (
        await client.get("/api/runs", params={"session_id": "s-filter", "status": "paused"})
    ).json()["runs"]
    assert [r["query"] for r in only_paused] == ["announce filters work"]
    assert (await client.get("/api/runs", params={"status": "nope"})).status_code == 400
    sessions = (await client.get("/api/sessions")).json()["sessions"]
    assert "s-filter" in {s["session_id"] for s in sessions}


async def test_approve_runs_the_tool_once_and_a_second_decision_sees_the_winner(
    client: httpx.AsyncClient,
) -> None:
    paused = await ask(client, "announce lunch")
    pause = await pending_pause(client, paused["planner_run_id"])
    assert pause["token_held"] and pause["pending_calls"][0]["tool"] == "post_announcement"
    assert pause["schemas"]["post_announcement"]["properties"]["priority"]["maximum"] == 5
    decide = f"/api/pauses/{pause['pause_id']}/decide"
    first, second = await asyncio.gather(
        client.post(decide, json={"approve": True}, headers={"X-Playground-Client": "tab A"}),
        client.post(decide, json={"approve": True}, headers={"X-Playground-Client": "tab B"}),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses[1] == 409 and statuses[0] in (200, 202)
    won, lost = (first, second) if first.status_code < 300 else (second, first)
    winner = lost.json()["winner"]
    assert winner["decided_by"] == won.request.headers["X-Playground-Client"]
    assert winner["decision"]["approve"] is True
    end = await finish(client, won.json()["run_id"])
    assert end["result"]["answer"] == "Posted: lunch (priority 1)"
    assert CALLS["post_announcement"] == 1
    again = await client.post(decide, json={"approve": True})
    assert again.status_code == 409 and again.json()["winner"]["status"] == "resolved"
    detail = (await client.get(f"/api/runs/{paused['planner_run_id']}")).json()
    marks = [m["kind"] for s in detail["trajectory"]["steps"] for m in s["marks"]]
    assert "pause" in marks and "resume" in marks and "decided" in marks


async def test_reject_with_a_reason_reaches_the_model(client: httpx.AsyncClient) -> None:
    paused = await ask(client, "announce nothing")
    pause = await pending_pause(client, paused["planner_run_id"])
    response = await client.post(
        f"/api/pauses/{pause['pause_id']}/decide", json={"approve": False, "reason": "not today"}
    )
    end = await finish(client, response.json()["run_id"])
    assert "not today" in end["result"]["answer"]
    assert CALLS["post_announcement"] == 0


async def test_edited_arguments_are_validated_before_anything_runs(
    client: httpx.AsyncClient,
) -> None:
    paused = await ask(client, "announce edits")
    pause = await pending_pause(client, paused["planner_run_id"])
    call_id = pause["pending_calls"][0]["call_id"]
    base = f"/api/pauses/{pause['pause_id']}"
    bad = {"text": "edits", "priority": 9}
    checked = (await client.post(f"{base}/validate", json={"call_id": call_id, "args": bad})).json()
    assert not checked["ok"] and checked["errors"][0]["loc"] == "priority"
    refused = await client.post(f"{base}/decide", json={"edited_args": {call_id: bad}})
    assert refused.status_code == 422 and refused.json()["errors"][call_id][0]["loc"] == "priority"
    assert (await pending_pause(client, paused["planner_run_id"]))["status"] == "pending"
    good = {"text": "edited", "priority": 3}
    accepted = await client.post(f"{base}/decide", json={"edited_args": {call_id: good}})
    end = await finish(client, accepted.json()["run_id"])
    assert end["result"]["answer"] == "Posted: edited (priority 3)"
    assert CALLS["post_announcement"] == 1


async def test_an_input_request_is_answered(client: httpx.AsyncClient) -> None:
    paused = await ask(client, "ask me")
    pause = await pending_pause(client, paused["planner_run_id"])
    assert pause["pending_calls"][0]["kind"] == "input"
    response = await client.post(
        f"/api/pauses/{pause['pause_id']}/decide", json={"user_input": "Ada"}
    )
    end = await finish(client, response.json()["run_id"])
    assert end["result"]["answer"] == "Hello, Ada!"


async def test_a_pause_made_by_another_process_needs_its_token(
    client: httpx.AsyncClient, base_url: str
) -> None:
    url = (await client.get("/api/info")).json()["store"]
    assert "***" not in url
    async with make_agent(url) as other:  # another process with the same store
        paused = await other.run("announce from afar")
    pause = await pending_pause(client, paused.run_id)
    assert not pause["token_held"]
    decide = f"/api/pauses/{pause['pause_id']}/decide"
    needs = await client.post(decide, json={"approve": True})
    assert needs.status_code == 400 and needs.json()["code"] == "token_required"
    wrong = await client.post(decide, json={"approve": True, "token": "not-the-token"})
    assert wrong.status_code == 404
    right = await client.post(decide, json={"approve": True, "token": paused.resume_token})
    end = await finish(client, right.json()["run_id"])
    assert end["result"]["answer"] == "Posted: from afar (priority 1)"


async def test_unknown_pauses_and_runs_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/pauses/nope/decide", json={"approve": True})).status_code == 404
    assert (await client.get("/api/runs/nope")).status_code == 404
    assert (await client.get("/api/runs/nope/events")).status_code == 404
    bad = await client.post("/api/runs", json={"query": ""})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "query"


async def test_tools_show_origin_schema_and_approval_rule(client: httpx.AsyncClient) -> None:
    tools = {t["name"]: t for t in (await client.get("/api/tools")).json()["tools"]}
    post = tools["post_announcement"]
    assert post["approval"]["rule"] == "always" and tools["lookup"]["approval"]["rule"] == "never"
    assert post["origin"] == {"kind": "python", "source": "playground_agent:post_announcement"}
    assert post["args_schema"]["properties"]["text"]["maxLength"] == 80
    graph = (await client.get("/api/flow")).json()
    ids = [n["id"] for n in graph["nodes"]]
    assert ids[:2] == ["planner", "OpenSea"] and ids[-1] == "Rookery"
    assert {"from": "OpenSea", "to": "lookup", "label": ""} in graph["edges"]
    assert "lookup" in graph["mermaid"]


def test_the_masker_hides_keys_patterns_and_env_values() -> None:
    mask = SecretMasker(["playground-token-123"], environ={"MY_API_KEY": "abcdefgh12345"})
    masked = mask(
        {
            "api_key": "anything",
            "prompt_tokens": 12,
            "text": "use Bearer abc.def.ghijkl and abcdefgh12345 and playground-token-123",
            "nested": [{"Authorization": "Basic xyz"}, "sk-abcdefghijklmnopqrstuv"],
        }
    )
    assert masked == {
        "api_key": "***",
        "prompt_tokens": 12,
        "text": "use *** and *** and ***",
        "nested": [{"Authorization": "***"}, "***"],
    }
