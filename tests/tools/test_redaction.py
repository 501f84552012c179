"""No secret reaches logs, planner events, stored flow events or any column of the store.

Authenticated calls with bearer, API-key (header and query string), OAuth
client-credentials and oauth2_user auth, a header marked secret, and a stdio MCP server
given a credential through ``env`` run through a ReactPlanner (SQLite session store) and
through a flow that records its events in the same store. The servers echo credentials
back in results, error bodies, URLs and on stderr.
"""

import json
import logging
import sqlite3
from urllib.parse import quote_plus

import pytest
from test_oauth_user import KEY, account_config, authorise
from toolsupport import TOKEN, demo_settings, oauth_module

from penguiflow import FlowError, Headers, Message, create
from penguiflow.planner import PlannerFinish, ReactPlanner, ScriptedLLM
from penguiflow.sessions import SqlSessionStore
from penguiflow.tools import CallerIdentity, ToolNode

API_KEY = "api-key-value-7f3a9c2e"
CC_SECRET = "client-secret-xyz"
QUERY_KEY = 'query+key/with="odd"\\chars=Zq'
MARKED = "marked-header-value-51d0"
ENV_SECRET = "env-secret-value-c0ffee"


def op(name, path, **schema_props):
    schema = {"type": "object", "properties": schema_props}
    return {"name": name, "path": path, "args_schema": schema}


def http_config(name, base_url, auth, operations):
    return {
        "name": name,
        "transport": "http",
        "base_url": base_url,
        "allow": ["*"],
        "retry": {"attempts": 1},
        "auth": auth,
        "operations": operations,
    }


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def capture():
    handler = Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("PF_RED_BEARER", TOKEN)
    monkeypatch.setenv("PF_RED_KEY", API_KEY)
    monkeypatch.setenv("PF_RED_CC", CC_SECRET)
    monkeypatch.setenv("PF_TEST_OAUTH_SECRET", oauth_module.CLIENT_SECRET)
    monkeypatch.setenv("PF_TEST_TOKEN_KEY", KEY)
    monkeypatch.setenv("PF_RED_QKEY", QUERY_KEY)


def tool_configs(http_api, oauth_provider):
    return [
        http_config(
            "bearer",
            http_api.url,
            {"type": "bearer", "token": "${PF_RED_BEARER}"},
            [op("echo", "/echo-headers"), op("item", "/items/{item_id}", item_id={})],
        ),
        http_config(
            "keyed",
            http_api.url,
            {"type": "api_key", "key": "${PF_RED_KEY}", "name": "X-API-Key"},
            [op("echo", "/echo-headers"), op("broken", "/broken", key={"type": "string"})],
        ),
        http_config(
            "cc",
            http_api.url,
            {
                "type": "oauth2_client_credentials",
                "token_url": f"{http_api.url}/token",
                "client_id": "client-1",
                "client_secret": "${PF_RED_CC}",
            },
            [op("item", "/items/{item_id}", item_id={}), op("echo", "/echo-headers")],
        ),
        account_config(oauth_provider),
        http_config(
            "query",
            http_api.url,
            {"type": "api_key", "key": "${PF_RED_QKEY}", "location": "query", "name": "k"},
            [op("url", "/echo-url"), op("long", "/long-error", pad={"type": "integer"})],
        )
        | {"headers": {"X-Marked": MARKED}, "secret_headers": ["X-Marked"]},
        demo_settings(
            name="envy",
            connection=[*demo_settings()["connection"], "--say-env", "SERVER_TOKEN"],
            env={"SERVER_TOKEN": ENV_SECRET},
            allow=["env_value", "env_error"],
            retry={"attempts": 1},
        ),
    ]


def steps():
    return [
        {"node": "bearer.echo", "args": {}},
        {"node": "bearer.item", "args": {"item_id": "1"}},
        {"node": "keyed.echo", "args": {}},
        {"node": "keyed.broken", "args": {"key": "red"}},
        {"node": "cc.item", "args": {"item_id": "2"}},
        {"node": "cc.echo", "args": {}},
        {"node": "acct.me", "args": {"item": "x"}},
        {"node": "query.url", "args": {}},
        {"node": "query.long", "args": {"pad": 495}},
        {"node": "envy.env_value", "args": {"name": "SERVER_TOKEN"}},
        {"node": "envy.env_error", "args": {"name": "SERVER_TOKEN"}},
    ]


async def test_secrets_never_reach_logs_events_or_the_store(
    http_api, oauth_provider, tmp_path, capture
):
    path = tmp_path / "red.sqlite3"
    events = []
    async with SqlSessionStore(f"sqlite+aiosqlite:///{path}") as store:
        nodes = [
            ToolNode(cfg, credential_store=store) for cfg in tool_configs(http_api, oauth_provider)
        ]
        try:
            for node in nodes:
                await node.connect()
            acct = next(node for node in nodes if node.name == "acct")
            await authorise(acct, store, "ivy", tenant="t1")
            catalog = [spec for node in nodes for spec in node.specs]

            llm = ScriptedLLM(
                [
                    {"next_node": "parallel", "args": {"steps": steps()}},
                    {"next_node": "final_response", "args": {"answer": "checked"}},
                ]
            )
            planner = ReactPlanner(
                llm_client=llm, catalog=catalog, state_store=store, event_callback=events.append
            )
            async with planner:
                result = await planner.run(
                    "check my accounts", tool_context={"user_id": "ivy"}, tenant_id="t1"
                )
            assert isinstance(result, PlannerFinish), result
            observation = result.metadata["steps"][0]["observation"]
            assert observation["success_count"] == 8 and observation["failure_count"] == 3
            seen = str(observation)
            assert "***" in seen  # the echoed credentials were there, and were masked
            assert "'user': 'ivy'" in seen

            # The same tools as plain runtime nodes, with flow events stored in the store.
            specs = {spec.name: spec for spec in catalog}
            flow = create(*(spec.node.to() for spec in catalog), state_store=store)
            flow.run()
            traces = []
            try:
                for index, step in enumerate(steps()):
                    trace = f"flow-{index}"
                    traces.append(trace)
                    message = Message(
                        payload=step["args"],
                        headers=Headers(tenant="t1"),
                        trace_id=trace,
                        meta={"user_id": "ivy"},
                    )
                    await flow.emit(message, to=specs[step["node"]].node)
                    try:
                        await flow.fetch(trace_id=trace)
                    except FlowError as exc:
                        capture.lines.append(str(exc))
            finally:
                await flow.stop()
            history = [await store.load_history(trace) for trace in traces]
            assert all(history)
            direct = await acct.call("me", {}, caller=CallerIdentity("t1", "ivy"))
            assert direct.structured["user"] == "ivy"
        finally:
            for node in nodes:
                await node.close()

    provider = oauth_provider.state
    secrets = {
        TOKEN,
        API_KEY,
        CC_SECRET,
        *http_api.state.valid_tokens,
        *provider.access,
        *provider.refresh,
        oauth_module.CLIENT_SECRET,
        KEY,
        QUERY_KEY,
        QUERY_KEY[:8],
        quote_plus(QUERY_KEY),
        json.dumps(QUERY_KEY)[1:-1],
        MARKED,
        ENV_SECRET,
    }
    assert http_api.state.valid_tokens and provider.access
    haystacks = {
        "logs": "\n".join(capture.lines),
        "planner events": "\n".join(repr(e) + str(getattr(e, "__dict__", "")) for e in events),
        "flow events": "\n".join(repr(h) for h in history),
    }
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                cells.extend(str(value) for value in row if value is not None)
    haystacks["store columns"] = "\n".join(cells)
    raw = path.read_bytes()
    for extra in (path.with_name(path.name + "-wal"),):
        raw += extra.read_bytes() if extra.exists() else b""
    haystacks["store file"] = raw.decode("latin-1")
    assert "penguiflow_user_credentials" in tables and len(cells) > 50
    assert len(haystacks["logs"]) > 1000 and events
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {where}"
