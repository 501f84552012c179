"""ToolNode against the demo MCP server over streamable HTTP and SSE (uvicorn, 127.0.0.1)."""

import asyncio
import logging
from hashlib import sha256

import pytest
from toolsupport import McpHttpServer

from penguiflow.tools import ToolNode
from penguiflow.tools.errors import ToolConfigError, ToolNotAllowedError
from penguiflow.tools.node import ToolNodeState


def http_config(url, transport="auto", **overrides):
    cfg = {
        "name": "remote",
        "transport": "mcp",
        "connection": url,
        "mcp_transport": transport,
        "allow": ["*"],
        "timeout_s": 20.0,
        "retry": {"attempts": 3, "backoff_base": 0.05},
    }
    cfg.update(overrides)
    return cfg


async def test_streamable_http_discovery_calls_and_auth_header(streamable_server, monkeypatch):
    monkeypatch.setenv("PF_TEST_MCP_TOKEN", "mcp-token-123456")
    cfg = http_config(
        streamable_server.url,
        auth={"type": "bearer", "token": "${PF_TEST_MCP_TOKEN}"},
        headers={"X-Tenant": "acme"},
    )
    async with ToolNode(cfg) as tn:
        assert "remote.add" in {s.name for s in tn.specs}
        results = await asyncio.gather(*(tn.call("add", {"a": i, "b": 1}) for i in range(5)))
        assert [r.structured["result"] for r in results] == [1, 2, 3, 4, 5]
        auth = await tn.call("request_header", {"name": "authorization"})
        assert auth.text == "Bearer ***"  # the server echoed the token; results mask it
        auth = await tn.call("request_header", {"name": "authorization", "sha256": True})
        assert auth.text == sha256(b"Bearer mcp-token-123456").hexdigest()
        assert (await tn.call("request_header", {"name": "x-tenant"})).text == "acme"
        # The token is resolved per request: rotating the variable takes effect at once.
        monkeypatch.setenv("PF_TEST_MCP_TOKEN", "rotated-token-789")
        auth = await tn.call("request_header", {"name": "authorization", "sha256": True})
        assert auth.text == sha256(b"Bearer rotated-token-789").hexdigest()
        assert "mcp-token" not in repr(tn.config) and "mcp-token" not in repr(tn)


async def test_sse_transport(sse_server):
    async with ToolNode(http_config(sse_server.url, "sse")) as tn:
        assert (await tn.call("echo", {"text": "over sse"})).text == "over sse"
        assert (await tn.call("add", {"a": 2, "b": 2})).structured == {"result": 4}


async def test_deny_by_default(streamable_server):
    cfg = http_config(streamable_server.url, allow=["add"])
    async with ToolNode(cfg) as tn:
        assert [s.name for s in tn.specs] == ["remote.add"]
        with pytest.raises(ToolNotAllowedError) as info:
            await tn.call("echo", {"text": "x"})
        assert info.value.tool == "echo" and info.value.server == "remote"
        assert info.value.retryable is False


async def test_an_allowlist_that_leaves_no_tool_is_refused(streamable_server):
    cfg = http_config(streamable_server.url)
    del cfg["allow"]  # nothing is allowed unless named
    tn = ToolNode(cfg)
    with pytest.raises(ToolConfigError) as info:
        await tn.connect()
    message = str(info.value)
    assert "'remote'" in message and "leaves none of the server's" in message
    assert "'add'" in message and "allow=['*']" in message
    assert tn.state is ToolNodeState.NEW
    cfg = http_config(streamable_server.url, allow=["a*"], deny=["a*"])
    with pytest.raises(ToolConfigError, match=r"deny=\['a\*'\] leaves none"):
        await ToolNode(cfg).connect()


async def test_an_allow_entry_that_matches_nothing_is_a_warning_with_near_names(
    streamable_server, caplog
):
    cfg = http_config(streamable_server.url, allow=["ech0", "remote.ad", "add", "zzz*"])
    with caplog.at_level(logging.WARNING, logger="penguiflow.tools"):
        async with ToolNode(cfg) as tn:
            assert [s.name for s in tn.specs] == ["remote.add"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    typo, qualified, glob = warnings
    assert "'ech0'" in typo and "did you mean 'echo'" in typo
    assert "'remote.ad'" in qualified and "'add'" in qualified
    assert "'zzz*'" in glob and "the server offers 'add'" in glob


async def test_allow_and_deny_globs_match_whole_names(streamable_server):
    cfg = http_config(
        streamable_server.url, allow=["ad", "a*", "remote.e*", "pid"], deny=["remote.echo"]
    )
    async with ToolNode(cfg) as tn:
        # "ad" is not a substring match; "remote.echo" is denied although "remote.e*" allows it.
        allowed = {s.name for s in tn.specs}
        assert allowed == {"remote.add", "remote.pid", "remote.env_value", "remote.env_error"}
        with pytest.raises(ToolNotAllowedError):
            await tn.call("echo", {"text": "x"})
        with pytest.raises(ToolNotAllowedError):
            await tn.call("remote.shout", {"text": "x"})


async def test_server_restart_forgets_the_session_and_the_call_is_retried():
    server = McpHttpServer("streamable-http")
    server.start()
    try:
        async with ToolNode(http_config(server.url, "streamable_http")) as tn:
            first = (await tn.call("pid")).structured["result"]
            server.stop()
            server.start()  # same port, new process: it does not know our session
            result = await tn.call("echo", {"text": "again"})  # not idempotent, never ran
            assert result.text == "again"
            assert (await tn.call("pid")).structured["result"] != first
    finally:
        server.stop()
