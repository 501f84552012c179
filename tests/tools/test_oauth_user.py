"""oauth2_user: per-user tokens, the authorisation pause, the callback, refresh, isolation."""

import asyncio
import pickle
import sqlite3
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from toolsupport import oauth_module

from penguiflow import Headers, Message, create
from penguiflow.sessions import SqlSessionStore
from penguiflow.tools import AuthorizationRequired, CallerIdentity, ToolNode, complete_authorization
from penguiflow.tools.errors import AuthorizationStateError, ToolAuthError, ToolConfigError

KEY = "k" * 40


class Clock:
    def __init__(self):
        import time

        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def oauth_env(monkeypatch):
    monkeypatch.setenv("PF_TEST_OAUTH_SECRET", oauth_module.CLIENT_SECRET)
    monkeypatch.setenv("PF_TEST_TOKEN_KEY", KEY)


@pytest.fixture
async def store(tmp_path):
    clock = Clock()
    async with SqlSessionStore(f"sqlite+aiosqlite:///{tmp_path}/s.sqlite3", clock=clock) as s:
        s.test_clock = clock
        s.test_path = tmp_path / "s.sqlite3"
        yield s


def account_config(provider, **auth):
    return {
        "name": "acct",
        "transport": "http",
        "base_url": f"{provider.url}/api",
        "allow": ["*"],
        "retry": {"attempts": 1},
        "operations": [
            {
                "name": "me",
                "path": "/me",
                "args_schema": {"type": "object", "properties": {"item": {"type": "string"}}},
            }
        ],
        "auth": {
            "type": "oauth2_user",
            "authorize_url": f"{provider.url}/authorize?prompt=consent",
            "token_url": f"{provider.url}/token",
            "client_id": oauth_module.CLIENT_ID,
            "client_secret": "${PF_TEST_OAUTH_SECRET}",
            "redirect_uri": oauth_module.REDIRECT_URI,
            "scope": "read",
            "encryption_key": "${PF_TEST_TOKEN_KEY}",
            **auth,
        },
    }


async def consent(url: str, login: str) -> tuple[str, str]:
    """Play the user: open the authorisation URL, log in, return (state, code)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}&login={login}")
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["state"][0], query["code"][0]


async def authorise(node, store, user, tenant="t1"):
    with pytest.raises(AuthorizationRequired) as info:
        await node.call("me", {}, caller=CallerIdentity(tenant, user, "r"))
    state, code = await consent(info.value.authorization_url, user)
    return await complete_authorization(store, state, code, tools=node)


async def test_pause_through_the_runtime_then_callback_then_call(oauth_provider, store):
    async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
        spec = node.specs[0]
        flow = create(spec.node.to())
        flow.run()
        try:
            message = Message(
                payload={"item": "x"},
                headers=Headers(tenant="t1"),
                trace_id="run-1",
                meta={"user_id": "alice"},
            )
            await flow.emit(message)
            with pytest.raises(AuthorizationRequired) as info:
                await flow.fetch(trace_id="run-1")
            signal = info.value
            assert (signal.tenant_id, signal.user_id, signal.run_id) == ("t1", "alice", "run-1")
            assert signal.tool == "me" and signal.server == "acct"
            query = parse_qs(urlsplit(signal.authorization_url).query)
            assert query["prompt"] == ["consent"] and query["scope"] == ["read"]
            assert len(query["state"][0]) >= 43  # 256 random bits
            assert signal.payload()["kind"] == "oauth2_authorization"

            state, code = await consent(signal.authorization_url, "alice")
            done = await complete_authorization(store, state, code, tools=node, user_id="alice")
            assert (done.tenant_id, done.user_id, done.run_id) == ("t1", "alice", "run-1")

            await flow.emit(message.model_copy(update={"trace_id": "run-1b"}))
            result = await flow.fetch(trace_id="run-1b")
            assert result.payload.structured == {"user": "alice", "item": "x"}
        finally:
            await flow.stop()


async def test_tokens_are_per_user_even_on_one_connection(oauth_provider, store):
    async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
        await authorise(node, store, "ann")
        # bob shares the node and its pooled connection, but ann's token is never his.
        with pytest.raises(AuthorizationRequired) as info:
            await node.call("me", {}, caller=CallerIdentity("t1", "bob", "r2"))
        assert info.value.user_id == "bob"
        # Same user id in another tenant is another user.
        with pytest.raises(AuthorizationRequired):
            await node.call("me", {}, caller=CallerIdentity("t2", "ann", "r3"))
        await authorise(node, store, "bob")
        callers = [CallerIdentity("t1", user, "r") for user in ["ann", "bob"] * 10]
        results = await asyncio.gather(*(node.call("me", {}, caller=c) for c in callers))
        assert [r.structured["user"] for r in results] == [c.user_id for c in callers]
        with pytest.raises(ToolAuthError, match="no user id"):
            await node.call("me", {})


async def test_state_is_single_use_expiring_and_bound_to_the_user(oauth_provider, store):
    async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
        caller = CallerIdentity("t1", "carl", "r")

        async def fresh_callback():
            with pytest.raises(AuthorizationRequired) as info:
                await node.call("me", {}, caller=caller)
            return await consent(info.value.authorization_url, "carl")

        state, code = await fresh_callback()
        with pytest.raises(AuthorizationStateError) as wrong:
            await complete_authorization(store, state, code, tools=node, user_id="mallory")
        assert wrong.value.reason == "wrong_user"
        with pytest.raises(AuthorizationStateError) as replay:  # consumed by the failed try
            await complete_authorization(store, state, code, tools=node)
        assert replay.value.reason == "used"
        with pytest.raises(AuthorizationStateError) as unknown:
            await complete_authorization(store, "forged-state", code, tools=node)
        assert unknown.value.reason == "unknown"

        state, code = await fresh_callback()
        store.test_clock.now += 601  # state_ttl_s is 600
        with pytest.raises(AuthorizationStateError) as expired:
            await complete_authorization(store, state, code, tools=node)
        assert expired.value.reason == "expired"
        store.test_clock.now -= 601

        state, _code = await fresh_callback()
        with pytest.raises(ToolAuthError, match="refused the authorisation code"):
            await complete_authorization(store, state, "not-a-code", tools=node)
        with pytest.raises(AuthorizationRequired):  # still no token for carl
            await node.call("me", {}, caller=caller)
        restored = pickle.loads(pickle.dumps(wrong.value))
        assert restored.reason == "wrong_user" and isinstance(restored, ToolAuthError)


async def test_refresh_before_expiry_and_reauthorisation_when_refresh_fails(oauth_provider, store):
    provider = oauth_provider.state
    async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
        caller = CallerIdentity("t1", "dora", "r")
        provider.ttl = 30  # below refresh_skew_s (60): every call finds the token expiring
        try:
            await authorise(node, store, "dora")
            before = provider.grants.count(("refresh_token", "dora"))
            assert (await node.call("me", {}, caller=caller)).structured["user"] == "dora"
            assert (await node.call("me", {}, caller=caller)).structured["user"] == "dora"
            assert provider.grants.count(("refresh_token", "dora")) == before + 2
            # The provider forgets the refresh tokens: the user must authorise again.
            provider.refresh.clear()
            with pytest.raises(AuthorizationRequired):
                await node.call("me", {}, caller=caller)
        finally:
            provider.ttl = 3600


async def test_tokens_are_encrypted_at_rest_and_bound_to_their_user(oauth_provider, store):
    provider = oauth_provider.state
    async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
        await authorise(node, store, "erin")
        await node.call("me", {}, caller=CallerIdentity("t1", "erin"))
        row = await store.load_user_credential(tenant_id="t1", user_id="erin", provider="acct")
        assert row.secret.startswith("v1.") and "secret" not in repr(row)
        # A row copied to another user does not decrypt: that user is asked to authorise.
        await store.save_user_credential(
            tenant_id="t1", user_id="frank", provider="acct", secret=row.secret
        )
        with pytest.raises(AuthorizationRequired):
            await node.call("me", {}, caller=CallerIdentity("t1", "frank"))
    secrets = [*provider.access, *provider.refresh, oauth_module.CLIENT_SECRET, KEY]
    raw = store.test_path.read_bytes()
    wal = store.test_path.with_name("s.sqlite3-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    with sqlite3.connect(store.test_path) as db:
        states = db.execute("SELECT state_hash, data FROM penguiflow_oauth_states").fetchall()
    assert states and all(len(h) == 64 and d.startswith("v1.") for h, d in states)
    for value in secrets:
        assert value.encode() not in raw


async def test_config_errors(oauth_provider, store, monkeypatch):
    cfg = account_config(oauth_provider)
    with pytest.raises(ToolConfigError, match="credential_store"):
        ToolNode(cfg)
    mcp = {**cfg, "transport": "mcp", "connection": "python -m x", "operations": []}
    mcp.pop("base_url")
    with pytest.raises(ToolConfigError, match="transport='http' only"):
        ToolNode(mcp, credential_store=store)
    monkeypatch.setenv("PF_TEST_TOKEN_KEY", "short")
    async with ToolNode(cfg, credential_store=store) as node:
        with pytest.raises(ToolConfigError, match="at least 32"):
            await node.call("me", {}, caller=CallerIdentity("t1", "gus"))
    with pytest.raises(ToolConfigError, match="oauth2_user"):
        await complete_authorization(store, "s", "c", tools=[])


def test_authorization_required_pickles():
    signal = AuthorizationRequired(
        server="acct",
        provider="acct",
        authorization_url="https://p/authorize?state=x",
        tenant_id="t1",
        user_id="u",
        run_id="r",
        expires_at=1.0,
        tool="me",
    )
    restored = pickle.loads(pickle.dumps(signal))
    assert restored.payload() == signal.payload()
    assert not isinstance(signal, Exception)  # a FlowSignal: `except Exception` cannot eat it
