"""Per-user OAuth 2 tokens (``oauth2_user``): storage, encryption, refresh, authorisation.

Tokens live in a credential store (``SqlSessionStore`` implements :class:`CredentialStore`)
encrypted with AES-GCM under a key derived from the config's ``encryption_key``; the
associated data binds each ciphertext to its tenant, user and provider, so a row copied to
another user does not decrypt. An authorisation ``state`` is 256 random bits; the store
keeps only its SHA-256 and the encrypted PKCE verifier, bound to the tenant, user and run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from penguiflow.signals import FlowSignal

from ._secrets import Redactor, resolve
from .errors import ToolAuthError, ToolConfigError, ToolConnectionError

if TYPE_CHECKING:
    import httpx

    from .auth import OAuth2User

__all__ = [
    "AuthorizationRequired",
    "CallerIdentity",
    "CredentialStore",
    "UserTokens",
    "hash_state",
]

_MIN_KEY_LEN = 32
_LOCKS = 64


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """Who a tool call is made for; credentials are resolved for this user only.

    Attributes:
        tenant_id: the user's tenant (``"default"`` when the app has none).
        user_id: the end user, or ``None`` when unknown.
        run_id: the planner run or trace making the call, if any.
    """

    tenant_id: str = "default"
    user_id: str | None = None
    run_id: str | None = None


class StoredCredential(Protocol):
    """A credential row as a :class:`CredentialStore` returns it."""

    @property
    def secret(self) -> str:
        """The stored (encrypted) credential."""
        ...


class StoredState(Protocol):
    """A consumed authorisation state as a :class:`CredentialStore` returns it."""

    @property
    def tenant_id(self) -> str:
        """The tenant the authorisation was started for."""
        ...

    @property
    def user_id(self) -> str:
        """The user it was started for."""
        ...

    @property
    def run_id(self) -> str | None:
        """The run that needed it."""
        ...

    @property
    def provider(self) -> str:
        """The provider it authorises."""
        ...

    @property
    def data(self) -> str:
        """The encrypted PKCE verifier."""
        ...

    @property
    def outcome(self) -> str:
        """``ok``, ``used`` or ``expired``."""
        ...


class CredentialStore(Protocol):
    """Where per-user tokens and pending authorisations are kept (``SqlSessionStore``)."""

    async def save_user_credential(
        self,
        *,
        tenant_id: str,
        user_id: str,
        provider: str,
        secret: str,
        expires_at: float | None = None,
    ) -> None:
        """Create or replace a user's credential."""
        ...

    async def load_user_credential(
        self, *, tenant_id: str, user_id: str, provider: str
    ) -> StoredCredential | None:
        """Return a user's credential, or ``None``."""
        ...

    async def delete_user_credential(self, *, tenant_id: str, user_id: str, provider: str) -> bool:
        """Forget a user's credential."""
        ...

    async def create_oauth_state(
        self,
        *,
        state_hash: str,
        tenant_id: str,
        user_id: str,
        run_id: str | None,
        provider: str,
        data: str,
        expires_at: float,
    ) -> None:
        """Record a pending authorisation."""
        ...

    async def consume_oauth_state(self, state_hash: str) -> StoredState | None:
        """Use a pending authorisation (exactly once)."""
        ...


class AuthorizationRequired(FlowSignal):
    """The calling user must authorise the tool first: the call pauses.

    Raised from a tool node (a :class:`~penguiflow.FlowSignal`, so it is never retried
    and ``flow.fetch()`` raises it); the planner turns it into a pause whose payload is
    :meth:`payload`. Send the user to ``authorization_url``.

    Attributes:
        server: the tool config's name.
        provider: the provider the tokens are stored under.
        tool: the tool that was called (set by the tool node).
        authorization_url: where the user authorises access.
        tenant_id: the user's tenant.
        user_id: the user.
        run_id: the run that made the call.
        expires_at: UNIX time after which the URL's ``state`` is refused.
    """

    def __init__(
        self,
        *,
        server: str,
        provider: str,
        authorization_url: str,
        tenant_id: str,
        user_id: str,
        run_id: str | None,
        expires_at: float,
        tool: str | None = None,
    ) -> None:
        self.server = server
        self.provider = provider
        self.tool = tool
        self.authorization_url = authorization_url
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.run_id = run_id
        self.expires_at = expires_at
        super().__init__(
            f"user {user_id!r} must authorise {provider!r} before {server!r} can be called"
        )

    def payload(self) -> dict[str, Any]:
        """Return the JSON pause payload (no token, no verifier)."""
        return {
            "kind": "oauth2_authorization",
            "server": self.server,
            "provider": self.provider,
            "tool": self.tool,
            "authorization_url": self.authorization_url,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "run_id": self.run_id,
            "expires_at": self.expires_at,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_signal, (self.payload(),))


def _rebuild_signal(data: dict[str, Any]) -> AuthorizationRequired:
    fields = {k: v for k, v in data.items() if k != "kind"}
    return AuthorizationRequired(**fields)


def hash_state(state: str) -> str:
    """Return the stored form of an authorisation ``state`` (hex SHA-256)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


class _Cipher:
    def __init__(self, key_material: str) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"penguiflow/oauth2_user/v1"
        ).derive(key_material.encode("utf-8"))
        self._aead = AESGCM(key)

    def seal(self, data: bytes, bound_to: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, data, bound_to.encode("utf-8"))
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, text: str, bound_to: str) -> bytes | None:
        from cryptography.exceptions import InvalidTag

        if not text.startswith("v1."):
            return None
        try:
            raw = base64.urlsafe_b64decode(text[3:])
            return self._aead.decrypt(raw[:12], raw[12:], bound_to.encode("utf-8"))
        except (InvalidTag, ValueError):
            return None


def _bound(tenant: str, user: str, provider: str) -> str:
    return "\x1f".join(("credential", tenant, user, provider))


class UserTokens:
    """Resolves, refreshes and obtains the tokens of each end user for one tool config.

    Args:
        config: the ``oauth2_user`` settings.
        server: the tool config's name.
        store: the credential store.
        http: the client for token requests.
        redactor: masks the client secret in errors.
        clock: UNIX time; injectable for tests.
    """

    def __init__(
        self,
        config: OAuth2User,
        *,
        server: str,
        store: CredentialStore,
        http: httpx.AsyncClient,
        redactor: Redactor,
        clock: Any = time.time,
    ) -> None:
        self.config = config
        self.server = server
        self.provider = config.provider or server
        self._store = store
        self._http = http
        self._redactor = redactor
        self._clock = clock
        self._locks = [asyncio.Lock() for _ in range(_LOCKS)]
        self._cipher: tuple[str, _Cipher] | None = None

    def cipher(self) -> _Cipher:
        """The cipher for the current ``encryption_key`` (re-derived when it changes)."""
        key = resolve(self.config.encryption_key, server=self.server)
        if len(key) < _MIN_KEY_LEN:
            raise ToolConfigError(
                f"tool config {self.server!r}: oauth2_user encryption_key must be at least "
                f"{_MIN_KEY_LEN} characters; generate one with "
                'python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        if self._cipher is None or self._cipher[0] != key:
            self._cipher = (key, _Cipher(key))
        return self._cipher[1]

    async def access_token(self, caller: CallerIdentity | None) -> str:
        """Return ``caller``'s access token, refreshing it when it is about to expire.

        Raises:
            AuthorizationRequired: the user has no usable token (the call must pause).
            ToolAuthError: the caller has no user id.
        """
        if caller is None or not caller.user_id:
            raise ToolAuthError(
                "oauth2_user tools act for an end user, and this call carries no user id; "
                "pass tool_context={'user_id': ...} to planner.run(), Message.meta['user_id'], "
                "or caller=CallerIdentity(...) to ToolNode.call()",
                server=self.server,
            )
        user, tenant = caller.user_id, caller.tenant_id
        tokens = await self._load(tenant, user)
        if tokens is not None and not self._expiring(tokens):
            return str(tokens["access_token"])
        lock = self._locks[hash((tenant, user)) % _LOCKS]
        async with lock:
            tokens = await self._load(tenant, user)
            if tokens is not None and not self._expiring(tokens):
                return str(tokens["access_token"])
            if tokens is not None and tokens.get("refresh_token"):
                refreshed = await self._refresh(str(tokens["refresh_token"]))
                if refreshed is not None:
                    refreshed.setdefault("refresh_token", tokens["refresh_token"])
                    await self.save(tenant, user, refreshed)
                    return str(refreshed["access_token"])
        raise await self.begin(caller)

    def _expiring(self, tokens: dict[str, Any]) -> bool:
        expires_at = tokens.get("expires_at")
        if not isinstance(expires_at, int | float):
            return False
        return bool(self._clock() >= expires_at - self.config.refresh_skew_s)

    async def _load(self, tenant: str, user: str) -> dict[str, Any] | None:
        record = await self._store.load_user_credential(
            tenant_id=tenant, user_id=user, provider=self.provider
        )
        if record is None:
            return None
        plain = self.cipher().open(record.secret, _bound(tenant, user, self.provider))
        if plain is None:  # another key, or a row moved between users: unusable
            return None
        data = json.loads(plain)
        return data if isinstance(data, dict) and data.get("access_token") else None

    async def save(self, tenant: str, user: str, tokens: dict[str, Any]) -> None:
        """Encrypt and store ``tokens`` for ``user``."""
        sealed = self.cipher().seal(
            json.dumps(tokens).encode("utf-8"), _bound(tenant, user, self.provider)
        )
        expires_at = tokens.get("expires_at")
        await self._store.save_user_credential(
            tenant_id=tenant,
            user_id=user,
            provider=self.provider,
            secret=sealed,
            expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
        )

    async def begin(self, caller: CallerIdentity) -> AuthorizationRequired:
        """Record a pending authorisation for ``caller`` and return the pause signal."""
        cfg = self.config
        user = caller.user_id or ""
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode("ascii")
            .rstrip("=")
        )
        digest = hash_state(state)
        expires_at = self._clock() + cfg.state_ttl_s
        await self._store.create_oauth_state(
            state_hash=digest,
            tenant_id=caller.tenant_id,
            user_id=user,
            run_id=caller.run_id,
            provider=self.provider,
            data=self.cipher().seal(verifier.encode("utf-8"), f"state\x1f{digest}"),
            expires_at=expires_at,
        )
        params = {
            **cfg.extra_params,
            "response_type": "code",
            "client_id": resolve(cfg.client_id, server=self.server),
            "redirect_uri": cfg.redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if cfg.scope:
            params["scope"] = cfg.scope
        parts = urlsplit(cfg.authorize_url)
        query = urlencode([*parse_qsl(parts.query), *params.items()])
        return AuthorizationRequired(
            server=self.server,
            provider=self.provider,
            authorization_url=urlunsplit(parts._replace(query=query)),
            tenant_id=caller.tenant_id,
            user_id=user,
            run_id=caller.run_id,
            expires_at=expires_at,
        )

    def verifier(self, record: StoredState, digest: str) -> str:
        """Decrypt the PKCE verifier of a consumed state (stored under ``digest``)."""
        plain = self.cipher().open(record.data, f"state\x1f{digest}")
        if plain is None:
            raise ToolAuthError(
                "the pending authorisation cannot be decrypted (was encryption_key changed?); "
                "start the authorisation again",
                server=self.server,
            )
        return plain.decode("utf-8")

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        """Trade an authorisation ``code`` for tokens.

        Raises:
            ToolAuthError: the provider refused the code.
            ToolConnectionError: the token endpoint is unreachable.
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": verifier,
        }
        tokens = await self._token_request(form, refusing="the authorisation code")
        if tokens is None:
            raise ToolAuthError(
                f"the token endpoint {self.config.token_url} refused the authorisation code; "
                "it may have expired or been used: start the authorisation again",
                server=self.server,
            )
        return tokens

    async def _refresh(self, refresh_token: str) -> dict[str, Any] | None:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(form, refusing="the refresh token")

    async def _token_request(self, form: dict[str, str], *, refusing: str) -> dict[str, Any] | None:
        import httpx

        cfg = self.config
        client_id = resolve(cfg.client_id, server=self.server)
        headers = {"Accept": "application/json"}
        secret = (
            None if cfg.client_secret is None else resolve(cfg.client_secret, server=self.server)
        )
        if secret is not None:
            self._redactor.add(secret)
        if cfg.client_auth == "basic" and secret is not None:
            raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {raw}"
        else:
            form = {**form, "client_id": client_id}
            if secret is not None:
                form["client_secret"] = secret
        started = self._clock()
        try:
            response = await self._http.post(cfg.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ToolConnectionError(
                f"could not reach the token endpoint {cfg.token_url}: {type(exc).__name__}",
                server=self.server,
            ) from None
        if response.status_code in (400, 401):
            return None  # invalid_grant and friends: the user must authorise again
        try:
            body: Any = response.json() if response.status_code == 200 else None
            access = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ToolAuthError(
                f"the token endpoint {cfg.token_url} gave no access_token for {refusing}",
                server=self.server,
                status=response.status_code,
            ) from None
        tokens: dict[str, Any] = {"access_token": access}
        if body.get("refresh_token"):
            tokens["refresh_token"] = str(body["refresh_token"])
        expires_in = body.get("expires_in")
        if isinstance(expires_in, int | float):
            tokens["expires_at"] = started + float(expires_in)
        return tokens
