"""Secrets are masked in every form a server can echo them back in.

A real HTTP API on 127.0.0.1 echoes the credential it received: in a URL (percent-encoded),
in a JSON error body (JSON-escaped), past the cut of an error excerpt, and base64-encoded.
A real stdio MCP server is handed a credential through ``env`` and echoes it in results,
errors and on stderr. A real streamable-HTTP MCP server echoes a bearer token while the
``mcp`` SDK logs raw messages at DEBUG.
"""

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from toolsupport import demo_settings

from penguiflow.tools import ToolNode
from penguiflow.tools.errors import ToolClientError, ToolExecutionError, ToolServerError

# Characters that every encoding changes: '+', '/', '=', '"' and a backslash.
KEY = 'k3y+wi/th="quote"\\back=x9Q'
FORMS = {
    "plain": KEY,
    "quote": quote(KEY, safe=""),
    "quote, '/' kept": quote(KEY),
    "quote_plus": quote_plus(KEY),
    "JSON-escaped": json.dumps(KEY)[1:-1],
    "base64": base64.b64encode(KEY.encode()).decode(),
    "urlsafe base64": base64.urlsafe_b64encode(KEY.encode()).decode(),
    "Basic credentials": base64.b64encode(b"someone:" + KEY.encode()).decode(),
}


def assert_masked(text: str) -> None:
    for form, value in FORMS.items():
        assert value not in text, f"the {form} form of the secret leaked: {text!r}"


def op(name, path, **props):
    return {"name": name, "path": path, "args_schema": {"type": "object", "properties": props}}


def api_config(http_api, *, location="header", **overrides):
    cfg = {
        "name": "api",
        "transport": "http",
        "base_url": http_api.url,
        "allow": ["*"],
        "retry": {"attempts": 1},
        "auth": {"type": "api_key", "key": "${PF_FORMS_KEY}", "name": "x-api-key"},
        "operations": [
            op("echo_url", "/echo-url", status={"type": "integer"}),
            op("json_error", "/json-error", **{"from": {"type": "string"}}),
            op("long_error", "/long-error", pad={"type": "integer"}),
            op("echo_encoded", "/echo-encoded", **{"from": {"type": "string"}}),
            op("echo_headers", "/echo-headers"),
        ],
    }
    if location == "query":
        cfg["auth"] = {**cfg["auth"], "location": "query", "name": "api_key"}
    cfg.update(overrides)
    return cfg


@pytest.fixture(autouse=True)
def key_env(monkeypatch):
    monkeypatch.setenv("PF_FORMS_KEY", KEY)


async def test_a_query_string_key_echoed_in_a_url_is_masked_percent_encoded(http_api):
    async with ToolNode(api_config(http_api, location="query")) as tn:
        result = await tn.call("echo_url", {})
        assert result.text.startswith("you asked for http://")
        assert "api_key=***" in result.text
        assert_masked(result.text)
        with pytest.raises(ToolClientError) as info:
            await tn.call("echo_url", {"status": 400})
        assert "api_key=***" in info.value.data
        assert_masked(str(info.value.data) + str(info.value))


async def test_a_secret_across_the_error_excerpt_cut_is_masked_whole(http_api):
    async with ToolNode(api_config(http_api)) as tn:
        for pad in (490, 495, 499):  # the excerpt keeps 500 characters
            with pytest.raises(ToolServerError) as info:
                await tn.call("long_error", {"pad": pad})
            data = info.value.data
            assert data.startswith("x" * pad) and len(data) <= 500
            assert KEY[:4] not in data, f"the start of the secret leaked at pad={pad}"


async def test_a_secret_echoed_json_escaped_is_masked(http_api):
    async with ToolNode(api_config(http_api)) as tn:
        with pytest.raises(ToolClientError) as info:
            await tn.call("json_error", {})
        assert json.loads(info.value.data) == {"error": "bad key", "got": "***"}
        assert_masked(info.value.data)


async def test_base64_forms_are_masked_alone_and_inside_basic_credentials(http_api):
    async with ToolNode(api_config(http_api)) as tn:
        result = await tn.call("echo_encoded", {})
    lines = result.text.splitlines()
    assert len(lines) == 6 and all("***" in line for line in lines), lines
    assert_masked(result.text)


async def test_headers_marked_secret_are_masked_and_other_literal_headers_are_not(http_api):
    cfg = api_config(
        http_api,
        auth={"type": "none"},
        headers={"X-Session": "literal-session-value-123", "X-Tenant": "acme"},
        secret_headers=["x-session"],
    )
    async with ToolNode(cfg) as tn:
        echoed = (await tn.call("echo_headers", {})).structured["headers"]
    assert echoed["x-session"] == "***"
    assert echoed["x-tenant"] == "acme"


ENV_SECRET = "env-token-5f1c9a7e"


async def test_values_given_to_a_stdio_server_through_env_are_masked(caplog, monkeypatch):
    monkeypatch.setenv("PF_FORMS_ENV", "placeholder-secret-77")
    cfg = demo_settings(
        connection=[*demo_settings()["connection"], "--say-env", "SERVER_TOKEN"],
        env={"SERVER_TOKEN": ENV_SECRET, "FROM_PLACEHOLDER": "${PF_FORMS_ENV}"},
    )
    assert ENV_SECRET not in repr(ToolNode(cfg).config)
    with caplog.at_level(logging.INFO, logger="penguiflow.tools.mcp.stderr"):
        async with ToolNode(cfg) as tn:
            assert (await tn.call("env_value", {"name": "SERVER_TOKEN"})).text == "***"
            assert (await tn.call("env_value", {"name": "FROM_PLACEHOLDER"})).text == "***"
            with pytest.raises(ToolExecutionError) as info:
                await tn.call("env_error", {"name": "SERVER_TOKEN"})
            assert "refused with ***" in str(info.value)
            assert ENV_SECRET not in repr(info.value.to_dict())
    stderr = [r.getMessage() for r in caplog.records if r.name == "penguiflow.tools.mcp.stderr"]
    assert "demo: starting with SERVER_TOKEN=***" in stderr
    assert ENV_SECRET not in caplog.text


async def test_env_variables_listed_in_public_env_are_not_masked():
    cfg = demo_settings(
        env={"SERVER_TOKEN": ENV_SECRET, "DATA_DIR": "/srv/public-data"}, public_env=["DATA_DIR"]
    )
    async with ToolNode(cfg) as tn:
        assert (await tn.call("env_value", {"name": "DATA_DIR"})).text == "/srv/public-data"
        assert (await tn.call("env_value", {"name": "SERVER_TOKEN"})).text == "***"


async def test_the_mcp_sdk_debug_logs_are_masked_while_a_node_has_secrets(
    streamable_server, monkeypatch, caplog
):
    token = "sdk-log-token-93b1d"
    monkeypatch.setenv("PF_FORMS_BEARER", token)
    cfg = {
        "name": "remote",
        "transport": "mcp",
        "connection": streamable_server.url,
        "allow": ["*"],
        "auth": {"type": "bearer", "token": "${PF_FORMS_BEARER}"},
    }
    with caplog.at_level(logging.DEBUG):
        async with ToolNode(cfg) as tn:
            echoed = await tn.call("request_header", {"name": "authorization"})
            assert echoed.text == "Bearer ***"
    sdk = [r for r in caplog.records if r.name.startswith(("mcp.", "httpx"))]
    assert any("Bearer ***" in r.getMessage() for r in sdk)  # the SDK logged the raw reply
    assert token not in caplog.text
