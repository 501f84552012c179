"""``oauth2_user``: tools that act for each end user with that user's OAuth 2 token.

Flow:

1. A tool call is made for a user with no token. The tool node raises
   :class:`AuthorizationRequired` (a ``FlowSignal``): the planner pauses the run and its
   pause payload carries ``authorization_url``.
2. Your app sends the user there. The provider redirects to your ``redirect_uri`` with
   ``code`` and ``state``.
3. Your callback handler calls :func:`complete_authorization`, which checks the
   ``state`` (unguessable, single use, expiring, bound to tenant/user/run), exchanges
   the code (PKCE) and stores the user's token, encrypted, in the credential store.
4. You resume the paused run; the call now goes out with that user's token, which is
   refreshed before it expires.

``SqlSessionStore`` is a :class:`CredentialStore`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._secrets import Redactor
from ._user_tokens import (
    AuthorizationRequired,
    CallerIdentity,
    CredentialStore,
    UserTokens,
    hash_state,
)
from .auth import OAuth2User
from .config import ExternalToolConfig
from .errors import AuthorizationStateError, ToolConfigError

if TYPE_CHECKING:
    import httpx

    from .node import ToolNode

__all__ = [
    "AuthorizationRequired",
    "AuthorizationResult",
    "CallerIdentity",
    "CredentialStore",
    "complete_authorization",
]

_MAX_STATE_LEN = 512


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    """Whose authorisation completed (never the token itself).

    Attributes:
        tenant_id: the user's tenant.
        user_id: the user who now has a token.
        run_id: the run that asked for it (resume that run's pause).
        provider: the provider the token is stored under.
        server: the tool config that handled the exchange.
    """

    tenant_id: str
    user_id: str
    run_id: str | None
    provider: str
    server: str


def _configs(
    tools: ToolNode | ExternalToolConfig | Iterable[ToolNode | ExternalToolConfig],
) -> list[ExternalToolConfig]:
    single = isinstance(tools, ExternalToolConfig) or hasattr(tools, "config")
    items = [tools] if single or not isinstance(tools, Iterable) else list(tools)
    out: list[ExternalToolConfig] = []
    for item in items:
        config = item if isinstance(item, ExternalToolConfig) else getattr(item, "config", None)
        if isinstance(config, ExternalToolConfig) and isinstance(config.auth, OAuth2User):
            out.append(config)
    return out


async def complete_authorization(
    store: CredentialStore,
    state: str,
    code: str,
    *,
    tools: ToolNode | ExternalToolConfig | Iterable[ToolNode | ExternalToolConfig],
    tenant_id: str | None = None,
    user_id: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> AuthorizationResult:
    """Finish an authorisation from your OAuth callback: check ``state``, store the token.

    Call it from the web handler at your ``redirect_uri`` with the ``state`` and ``code``
    query parameters. The state is consumed even when a check fails, so a leaked or
    replayed callback URL is useless.

    Args:
        store: the credential store the tool nodes use (``SqlSessionStore``).
        state: the ``state`` query parameter of the callback.
        code: the ``code`` query parameter of the callback.
        tools: the tool node(s) or config(s) with ``oauth2_user`` auth that may have
            started the authorisation.
        tenant_id: if given, the state must have been issued for this tenant.
        user_id: if given (the user logged in to your app), the state must have been
            issued for this user; pass it to stop one user from completing another's
            authorisation.
        http: a client for the token request (a short-lived one is used otherwise).

    Returns:
        Who now has a token, and which run asked for it.

    Raises:
        AuthorizationStateError: the state is unknown, used, expired, or issued for
            another user, tenant or provider.
        ToolAuthError: the provider refused the code.
        ToolConfigError: no ``oauth2_user`` config was given.
    """
    configs = _configs(tools)
    if not configs:
        raise ToolConfigError(
            "complete_authorization(tools=...) needs the ToolNode(s) or ExternalToolConfig(s) "
            "whose auth is oauth2_user"
        )
    if not isinstance(state, str) or not state or len(state) > _MAX_STATE_LEN:
        raise AuthorizationStateError("the callback has no valid state parameter")
    if not isinstance(code, str) or not code:
        raise AuthorizationStateError("the callback has no code parameter", reason="no_code")
    digest = hash_state(state)
    record = await store.consume_oauth_state(digest)
    if record is None:
        raise AuthorizationStateError("the state parameter is unknown; start again")
    if record.outcome != "ok":
        raise AuthorizationStateError(
            f"the state parameter was {record.outcome}; start the authorisation again",
            reason=record.outcome,
        )
    if (tenant_id is not None and tenant_id != record.tenant_id) or (
        user_id is not None and user_id != record.user_id
    ):
        raise AuthorizationStateError(
            "the state parameter was issued for another user; the authorisation is refused",
            reason="wrong_user",
        )
    config = next(
        (
            c
            for c in configs
            if isinstance(c.auth, OAuth2User) and (c.auth.provider or c.name) == record.provider
        ),
        None,
    )
    if config is None or not isinstance(config.auth, OAuth2User):
        raise AuthorizationStateError(
            f"no tool config given for the provider {record.provider!r} of this state",
            reason="wrong_provider",
        )
    import httpx

    client = http or httpx.AsyncClient(follow_redirects=False, timeout=config.connect_timeout_s)
    try:
        tokens = UserTokens(
            config.auth, server=config.name, store=store, http=client, redactor=Redactor()
        )
        verifier = tokens.verifier(record, digest)
        fresh = await tokens.exchange(code, verifier)
        await tokens.save(record.tenant_id, record.user_id, fresh)
    finally:
        if http is None:
            await client.aclose()
    return AuthorizationResult(
        tenant_id=record.tenant_id,
        user_id=record.user_id,
        run_id=record.run_id,
        provider=record.provider,
        server=config.name,
    )
