"""Authentication settings for external tools, and their per-call resolution.

Secrets (tokens, passwords, client secrets) are :class:`pydantic.SecretStr`, so reprs and
dumps show ``**********``. A secret written as ``${ENV_VAR}`` is looked up in the
environment on every call, never at load time, so rotating a variable takes effect on the
next call and a missing one fails that call with :class:`SecretNotFoundError`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ._secrets import Redactor, resolve
from .errors import ToolAuthError, ToolConnectionError

if TYPE_CHECKING:
    import httpx

    from ._user_tokens import CallerIdentity, UserTokens

__all__ = [
    "ApiKeyAuth",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2ClientCredentials",
    "OAuth2User",
]


class _AuthModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(_AuthModel):
    """No credentials are sent."""

    type: Literal["none"] = "none"


class BearerAuth(_AuthModel):
    """``Authorization: Bearer <token>``."""

    type: Literal["bearer"] = "bearer"
    token: SecretStr
    """The token, or ``"${ENV_VAR}"``."""


class ApiKeyAuth(_AuthModel):
    """An API key sent in a header or in the query string."""

    type: Literal["api_key"] = "api_key"
    key: SecretStr
    """The key, or ``"${ENV_VAR}"``."""
    name: str = "X-API-Key"
    """The header or query parameter name."""
    location: Literal["header", "query"] = "header"
    """Where the key goes."""


class BasicAuth(_AuthModel):
    """HTTP basic authentication."""

    type: Literal["basic"] = "basic"
    username: str
    """The user name (may contain ``${ENV_VAR}``)."""
    password: SecretStr
    """The password, or ``"${ENV_VAR}"``."""


class OAuth2ClientCredentials(_AuthModel):
    """OAuth 2 client-credentials grant; tokens are cached and refreshed before expiry."""

    type: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: str
    """The authorisation server's token endpoint."""
    client_id: str
    """The client id (may contain ``${ENV_VAR}``)."""
    client_secret: SecretStr
    """The client secret, or ``"${ENV_VAR}"``."""
    scope: str | None = None
    """Space-separated scopes to request."""
    audience: str | None = None
    """An ``audience`` parameter, for servers that want one."""
    client_auth: Literal["basic", "body"] = "basic"
    """Send the client credentials as HTTP basic auth (default) or in the form body."""
    refresh_skew_s: float = Field(default=30.0, ge=0, strict=True)
    """Fetch a new token this many seconds before the cached one expires."""


class OAuth2User(_AuthModel):
    """OAuth 2 authorisation-code grant (with PKCE) on behalf of each end user.

    When the calling user has no token yet, the tool call pauses with the authorisation
    URL (``AuthorizationRequired``); your web app's callback passes the returned ``code``
    and ``state`` to :func:`penguiflow.tools.oauth.complete_authorization`, which stores
    the user's token (encrypted with ``encryption_key``) in the credential store. Tokens
    are refreshed ``refresh_skew_s`` before they expire. HTTP tools only.
    """

    type: Literal["oauth2_user"] = "oauth2_user"
    authorize_url: str
    """The authorisation endpoint the user is sent to."""
    token_url: str
    """The token endpoint (code exchange and refresh)."""
    client_id: str
    """The client id (may contain ``${ENV_VAR}``)."""
    client_secret: SecretStr | None = None
    """The client secret, or ``"${ENV_VAR}"``; ``None`` for a public client (PKCE only)."""
    redirect_uri: str
    """Your app's callback URL, registered with the provider."""
    scope: str | None = None
    """Space-separated scopes to request."""
    client_auth: Literal["basic", "body"] = "basic"
    """Send the client credentials as HTTP basic auth (default) or in the form body."""
    extra_params: dict[str, str] = Field(default_factory=dict)
    """Extra query parameters of the authorisation URL (``access_type=offline``...)."""
    encryption_key: SecretStr
    """Key that encrypts tokens at rest (``"${ENV_VAR}"``, at least 32 characters; e.g.
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``)."""
    provider: str | None = None
    """Name the tokens are stored under; defaults to the tool config's ``name``. Give
    configs that share one authorisation the same value."""
    state_ttl_s: float = Field(default=600.0, gt=0, strict=True)
    """How long an authorisation URL (its ``state``) stays valid."""
    refresh_skew_s: float = Field(default=60.0, ge=0, strict=True)
    """Refresh a token this many seconds before it expires."""


AuthConfig = Annotated[
    NoAuth | BearerAuth | ApiKeyAuth | BasicAuth | OAuth2ClientCredentials | OAuth2User,
    Field(discriminator="type"),
]
"""One of the auth modes, chosen by its ``type`` field."""


@dataclass(slots=True)
class Credentials:
    """Headers and query parameters to add to one request."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    """Per-user secrets in these credentials, to mask in this call's errors."""


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float | None


class AuthResolver:
    """Turns an auth config into credentials, one call at a time.

    Args:
        config: the auth settings.
        server: the server id, for error messages.
        redactor: receives every resolved secret so errors can mask it.
        http: an ``httpx.AsyncClient`` for token requests (OAuth 2 only).
    """

    def __init__(
        self,
        config: NoAuth | BearerAuth | ApiKeyAuth | BasicAuth | OAuth2ClientCredentials | OAuth2User,
        *,
        server: str,
        redactor: Redactor,
        http: httpx.AsyncClient | None = None,
        user_tokens: UserTokens | None = None,
    ) -> None:
        self._config = config
        self._user_tokens = user_tokens
        self._server = server
        self._redactor = redactor
        self._http = http
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._clock = time.monotonic

    def _secret(self, value: str | SecretStr) -> str:
        resolved = resolve(value, server=self._server)
        self._redactor.add(resolved)
        return resolved

    async def credentials(self, caller: CallerIdentity | None = None) -> Credentials:
        """Return the credentials for the next request, made for ``caller``.

        Raises:
            SecretNotFoundError: a ``${ENV_VAR}`` is not set.
            ToolAuthError: an OAuth 2 token could not be obtained.
            AuthorizationRequired: ``oauth2_user`` and the caller has no token yet.
        """
        cfg = self._config
        if isinstance(cfg, OAuth2User):
            if self._user_tokens is None:
                raise ToolAuthError(
                    "oauth2_user needs a credential store; this is a bug in ToolNode",
                    server=self._server,
                )
            token = await self._user_tokens.access_token(caller)
            return Credentials(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        if isinstance(cfg, BearerAuth):
            return Credentials(headers={"Authorization": f"Bearer {self._secret(cfg.token)}"})
        if isinstance(cfg, ApiKeyAuth):
            key = self._secret(cfg.key)
            if cfg.location == "header":
                return Credentials(headers={cfg.name: key})
            return Credentials(params={cfg.name: key})
        if isinstance(cfg, BasicAuth):
            user = resolve(cfg.username, server=self._server)
            raw = f"{user}:{self._secret(cfg.password)}".encode()
            encoded = base64.b64encode(raw).decode("ascii")
            self._redactor.add(encoded)
            return Credentials(headers={"Authorization": f"Basic {encoded}"})
        if isinstance(cfg, OAuth2ClientCredentials):
            token = await self._oauth_token(cfg)
            return Credentials(headers={"Authorization": f"Bearer {token}"})
        return Credentials()

    def invalidate(self) -> None:
        """Forget a cached OAuth 2 token (after a 401), so the next call fetches a new one."""
        self._token = None

    def _fresh(self, cfg: OAuth2ClientCredentials) -> str | None:
        token = self._token
        if token is None:
            return None
        if token.expires_at is not None and self._clock() >= token.expires_at - cfg.refresh_skew_s:
            return None
        return token.value

    async def _oauth_token(self, cfg: OAuth2ClientCredentials) -> str:
        cached = self._fresh(cfg)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh(cfg)
            if cached is not None:
                return cached
            self._token = await self._fetch_token(cfg)
            return self._token.value

    async def _fetch_token(self, cfg: OAuth2ClientCredentials) -> _Token:
        import httpx

        if self._http is None:
            raise ToolAuthError(
                "oauth2_client_credentials needs an HTTP client; this is a bug in ToolNode",
                server=self._server,
            )
        client_id = resolve(cfg.client_id, server=self._server)
        secret = self._secret(cfg.client_secret)
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if cfg.scope:
            form["scope"] = cfg.scope
        if cfg.audience:
            form["audience"] = cfg.audience
        headers: dict[str, str] = {"Accept": "application/json"}
        if cfg.client_auth == "basic":
            raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
            self._redactor.add(raw)
            headers["Authorization"] = f"Basic {raw}"
        else:
            form["client_id"] = client_id
            form["client_secret"] = secret
        started = self._clock()
        try:
            response = await self._http.post(cfg.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ToolConnectionError(
                f"could not reach the token endpoint {cfg.token_url}: {type(exc).__name__}",
                server=self._server,
            ) from None
        if response.status_code != 200:
            raise ToolAuthError(
                f"the token endpoint {cfg.token_url} refused the client credentials; check "
                "client_id/client_secret and scope",
                server=self._server,
                status=response.status_code,
                data=self._redactor.excerpt(response.text, 500),
            )
        try:
            body: Any = response.json()
            value = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ToolAuthError(
                f"the token endpoint {cfg.token_url} returned no access_token",
                server=self._server,
                status=response.status_code,
            ) from None
        self._redactor.add(value)
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        expires_at = started + float(expires_in) if isinstance(expires_in, int | float) else None
        return _Token(value, expires_at)
