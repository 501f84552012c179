"""HTTP tools end to end against a real starlette API on 127.0.0.1."""

import logging
import uuid

import pytest
from toolsupport import TOKEN, free_port

from penguiflow.tools import ExternalToolConfig, ToolNode
from penguiflow.tools.errors import (
    SecretNotFoundError,
    ToolArgumentsError,
    ToolAuthError,
    ToolCircuitOpenError,
    ToolClientError,
    ToolConnectionError,
    ToolRateLimitError,
    ToolResponseError,
    ToolServerError,
    ToolTimeoutError,
)

OBJ = {"type": "object"}


def op(name, path, method="GET", props=None, required=(), **extra):
    schema = {"type": "object", "properties": props or {}, "required": list(required)}
    return {"name": name, "path": path, "method": method, "args_schema": schema, **extra}


OPERATIONS = [
    op(
        "get_item",
        "/items/{item_id}",
        props={"item_id": {"type": "string"}, "q": {"type": "string"}},
        required=["item_id"],
        description="Fetch one item.",
    ),
    op("flaky", "/flaky", props={"key": {"type": "string"}}, required=["key"]),
    op("broken", "/broken", props={"key": {"type": "string"}}, required=["key"]),
    op(
        "create_order",
        "/orders",
        "POST",
        props={"sku": {"type": "string"}, "qty": {"type": "integer"}, "key": {"type": "string"}},
        query=["key"],
    ),
    op("echo_headers", "/echo-headers"),
    op("redirect", "/redirect"),
    op("big", "/big", props={"n": {"type": "integer"}}),
    op("binary", "/binary", props={"n": {"type": "integer"}}),
    op("sleep", "/sleep", props={"s": {"type": "number"}}),
    op("secure", "/items/{item_id}", props={"item_id": {"type": "string"}}, required=["item_id"]),
]


def api_config(base_url, **overrides):
    cfg = {
        "name": "shop",
        "transport": "http",
        "base_url": base_url,
        "operations": OPERATIONS,
        "allow": ["*"],
        "timeout_s": 10.0,
        "retry": {"attempts": 3, "backoff_base": 0.01},
        "auth": {"type": "bearer", "token": "${PF_TEST_SHOP_TOKEN}"},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("PF_TEST_SHOP_TOKEN", TOKEN)


class Sleeps:
    def __init__(self):
        self.waits = []

    async def __call__(self, seconds):
        self.waits.append(seconds)


def key():
    return uuid.uuid4().hex


async def test_get_with_bearer_auth_and_encoded_path(http_api, token_env):
    async with ToolNode(api_config(http_api.url)) as tn:
        spec = next(s for s in tn.specs if s.name == "shop.get_item")
        assert spec.side_effects == "read" and spec.desc == "Fetch one item."
        result = await spec.node.func({"item_id": "a b?q=evil", "q": "x"}, None)
        # The value stays inside its path segment: no query injection.
        assert result.structured == {"id": "a b?q=evil", "q": "x"} and result.status == 200
        with pytest.raises(ToolArgumentsError):
            await tn.call("get_item", {"q": "no id"})


async def test_missing_secret_names_the_variable(http_api, monkeypatch):
    monkeypatch.delenv("PF_TEST_SHOP_TOKEN", raising=False)
    async with ToolNode(api_config(http_api.url)) as tn:
        with pytest.raises(SecretNotFoundError, match="PF_TEST_SHOP_TOKEN"):
            await tn.call("get_item", {"item_id": "1"})


async def test_429_with_retry_after_then_success(http_api, token_env):
    sleeps = Sleeps()
    async with ToolNode(api_config(http_api.url), sleep=sleeps) as tn:
        k = key()
        result = await tn.call("flaky", {"key": k})
        assert result.structured == {"ok": True, "hits": 2}
        assert sleeps.waits == [1.0]  # the server's Retry-After, not the 0.01 s backoff


async def test_429_not_retried_when_retry_after_is_too_long(http_api, token_env):
    cfg = api_config(http_api.url, retry={"attempts": 3, "max_retry_after_s": 0.5})
    async with ToolNode(cfg, sleep=Sleeps()) as tn:
        k = key()
        with pytest.raises(ToolRateLimitError) as info:
            await tn.call("flaky", {"key": k})
        assert info.value.retry_after == 1.0 and info.value.retryable and info.value.status == 429
        assert http_api.state.hits[k] == 1


async def test_5xx_retries_exhausted(http_api, token_env):
    sleeps = Sleeps()
    async with ToolNode(api_config(http_api.url), sleep=sleeps) as tn:
        k = key()
        with pytest.raises(ToolServerError) as info:
            await tn.call("broken", {"key": k})
        assert info.value.attempts == 3 and info.value.status == 500 and info.value.retryable
        assert http_api.state.hits[k] == 3
        assert sleeps.waits == [0.01, 0.02]


async def test_4xx_not_retried_and_post_body(http_api, token_env):
    async with ToolNode(api_config(http_api.url)) as tn:
        k = key()
        with pytest.raises(ToolClientError) as info:
            await tn.call("create_order", {"qty": 2, "key": k})
        assert info.value.status == 400 and not info.value.retryable
        assert http_api.state.hits[k] == 1 and "sku missing" in info.value.data
        ok = await tn.call("create_order", {"sku": "abc", "qty": 2, "key": k})
        assert ok.status == 201 and ok.structured["sku"] == "abc" and "key" not in ok.structured


async def test_api_key_header_and_query_and_basic(http_api, monkeypatch):
    monkeypatch.setenv("PF_TEST_API_KEY", "key-abcdef-123")
    header = api_config(
        http_api.url,
        auth={"type": "api_key", "key": "${PF_TEST_API_KEY}"},
        headers={"X-Extra": "v-${PF_TEST_API_KEY}"},
    )
    async with ToolNode(header) as tn:
        seen = (await tn.call("echo_headers")).structured
        # The server got the key and echoed it; the result masks exactly that value.
        assert seen["headers"]["x-api-key"] == "***"
        assert seen["headers"]["x-extra"] == "***"  # configured header values are secrets too
    query = api_config(
        http_api.url,
        auth={
            "type": "api_key",
            "key": "${PF_TEST_API_KEY}",
            "location": "query",
            "name": "api_key",
        },
    )
    async with ToolNode(query) as tn:
        assert (await tn.call("echo_headers")).structured["query"] == {"api_key": "***"}
    basic = api_config(
        http_api.url, auth={"type": "basic", "username": "ann", "password": "${PF_TEST_API_KEY}"}
    )
    async with ToolNode(basic) as tn:
        got = (await tn.call("echo_headers")).structured["headers"]["authorization"]
        assert got == "Basic ***"  # the encoded "ann:key-abcdef-123", masked in results


async def test_secrets_never_in_errors_reprs_or_logs(http_api, monkeypatch, caplog):
    secret = "key-very-secret-987"
    monkeypatch.setenv("PF_TEST_API_KEY", secret)
    caplog.set_level(logging.DEBUG)
    cfg = api_config(
        http_api.url, auth={"type": "api_key", "key": "${PF_TEST_API_KEY}"}, retry={"attempts": 1}
    )
    config = ExternalToolConfig.from_dict({**cfg, "headers": {"X-Raw": secret}})
    async with ToolNode(config) as tn:
        with pytest.raises(ToolServerError) as info:
            await tn.call("broken", {"key": key()})  # the server echoes the key in its body
    err = info.value
    assert "***" in err.data
    for text in (
        str(err),
        repr(err),
        str(err.to_dict()),
        repr(config),
        config.model_dump_json(),
        repr(tn),
        caplog.text,
    ):
        assert secret not in text


async def test_redirects_are_not_followed(http_api, token_env):
    async with ToolNode(api_config(http_api.url)) as tn:
        with pytest.raises(ToolClientError) as info:
            await tn.call("redirect")
        assert info.value.status == 302 and "redirect" in info.value.message


async def test_response_size_limit_and_binary_refs(http_api, token_env):
    cfg = api_config(http_api.url, max_response_bytes=1000, max_inline_bytes=50)
    async with ToolNode(cfg) as tn:
        assert len((await tn.call("big", {"n": 500})).text) == 500
        with pytest.raises(ToolResponseError):
            await tn.call("big", {"n": 5000})
        small = (await tn.call("binary", {"n": 10})).refs[0]
        assert small.inline and small.size_bytes == 20
        big = (await tn.call("binary", {"n": 100})).refs[0]
        assert not big.inline and big.data is None and big.size_bytes == 200


async def test_timeout(http_api, token_env):
    cfg = api_config(http_api.url, timeout_s=0.3, retry={"attempts": 1})
    async with ToolNode(cfg) as tn:
        with pytest.raises(ToolTimeoutError):
            await tn.call("sleep", {"s": 5})


async def test_connection_refused_retried_then_circuit_opens(token_env):
    cfg = api_config(
        f"http://127.0.0.1:{free_port()}",
        circuit_breaker={"failure_threshold": 3, "reset_after_s": 30},
    )
    sleeps = Sleeps()
    async with ToolNode(cfg, sleep=sleeps) as tn:
        with pytest.raises(ToolConnectionError) as info:
            await tn.call("create_order", {"sku": "a"})  # POST, but never sent: safe to retry
        assert info.value.attempts == 3 and len(sleeps.waits) == 2
        with pytest.raises(ToolCircuitOpenError):
            await tn.call("echo_headers")


async def test_oauth2_client_credentials_cached_and_refreshed(http_api, monkeypatch):
    monkeypatch.setenv("PF_TEST_CLIENT_SECRET", "client-secret-xyz")
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{http_api.url}/token",
        "client_id": "client-1",
        "client_secret": "${PF_TEST_CLIENT_SECRET}",
        "scope": "read",
    }
    state = http_api.state
    async with ToolNode(api_config(http_api.url, auth=auth)) as tn:
        before = state.tokens_issued
        for _ in range(3):
            assert (await tn.call("secure", {"item_id": "7"})).structured["id"] == "7"
        assert state.tokens_issued == before + 1  # cached
        state.valid_tokens.clear()  # the server revokes the token
        with pytest.raises(ToolAuthError):
            await tn.call("secure", {"item_id": "7"})
        assert (await tn.call("secure", {"item_id": "8"})).structured["id"] == "8"  # refetched
        assert state.tokens_issued == before + 2
    state.token_ttl = 10  # shorter than the 30 s refresh skew: refreshed before every call
    try:
        async with ToolNode(api_config(http_api.url, auth=auth)) as tn:
            before = state.tokens_issued
            await tn.call("secure", {"item_id": "1"})
            await tn.call("secure", {"item_id": "2"})
            assert state.tokens_issued == before + 2
    finally:
        state.token_ttl = 3600
    bad = {**auth, "client_secret": "wrong-secret-value"}
    async with ToolNode(api_config(http_api.url, auth=bad)) as tn:
        with pytest.raises(ToolAuthError) as info:
            await tn.call("secure", {"item_id": "1"})
        assert "wrong-secret-value" not in str(info.value.to_dict())
