"""Open the transport a config asks for; everything else sees only a stream pair."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import httpx2
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from ._mcp_stdio import StdioServer, stdio_transport
from ._secrets import Redactor, resolve_mapping, secret_values
from .auth import AuthResolver

if TYPE_CHECKING:
    from .config import ExternalToolConfig

__all__ = ["open_transport"]


class _PerRequestAuth(httpx2.Auth):
    """Adds the configured headers and credentials to every MCP HTTP request, resolved then."""

    def __init__(self, config: ExternalToolConfig, auth: AuthResolver, redactor: Redactor) -> None:
        self._config = config
        self._auth = auth
        self._redactor = redactor

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        cfg = self._config
        headers = resolve_mapping(cfg.headers, server=cfg.name)
        self._redactor.add_all(secret_values(cfg.headers, headers, marked=cfg.secret_headers))
        creds = await self._auth.credentials()
        request.headers.update(headers)
        request.headers.update(creds.headers)
        if creds.params:
            request.url = request.url.copy_merge_params(creds.params)
        yield request


def _stdio(
    config: ExternalToolConfig, redactor: Redactor, server: StdioServer
) -> AbstractAsyncContextManager[TransportStreams]:
    env = resolve_mapping(config.env, server=config.name)
    public = {name.lower() for name in config.public_env}
    redactor.add_all(value for key, value in env.items() if key.lower() not in public)
    if sys.platform == "win32":  # pragma: no cover - the SDK puts the server in a job object
        params = StdioServerParameters(
            command=server.command[0], args=server.command[1:], env=env or None, cwd=config.cwd
        )
        return stdio_client(params, errlog=sys.stderr)
    return stdio_transport(server, name=config.name, env=env, cwd=config.cwd, redactor=redactor)


@asynccontextmanager
async def _http(
    config: ExternalToolConfig, auth: AuthResolver, redactor: Redactor
) -> AsyncGenerator[TransportStreams, None]:
    url = str(config.connection)
    flow = _PerRequestAuth(config, auth, redactor)
    timeout = config.connect_timeout_s
    if config.resolved_transport == "sse":

        def factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=flow)

        async with sse_client(url, timeout=timeout, httpx_client_factory=factory) as streams:
            yield streams
        return
    async with AsyncExitStack() as stack:
        client = httpx2.AsyncClient(
            auth=flow, timeout=httpx2.Timeout(timeout, read=max(timeout, 300.0))
        )
        await stack.enter_async_context(client)
        streams = await stack.enter_async_context(streamable_http_client(url, http_client=client))
        yield streams


def open_transport(
    config: ExternalToolConfig,
    auth: AuthResolver,
    redactor: Redactor,
    server: StdioServer | None = None,
) -> AbstractAsyncContextManager[TransportStreams]:
    """Return the transport context manager for ``config`` (stdio, streamable HTTP or SSE).

    Args:
        config: the server's config.
        auth: per-request credentials (HTTP transports).
        redactor: learns the secrets the transport sends (``env`` values, secret headers).
        server: for stdio, receives the process id, exit status and last stderr lines.

    Raises:
        SecretNotFoundError: a ``${ENV_VAR}`` in ``env`` is not set (stdio).
    """
    if config.resolved_transport == "stdio":
        return _stdio(config, redactor, server or StdioServer(config.command))
    return _http(config, auth, redactor)
