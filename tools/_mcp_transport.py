"""Open the MCP SDK transport a config asks for; everything else sees only a stream pair."""

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

from ._secrets import Redactor, resolve, resolve_mapping, secret_values
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
        headers = resolve_mapping(self._config.headers, server=self._config.name)
        self._redactor.add_all(secret_values(self._config.headers, headers))
        creds = await self._auth.credentials()
        request.headers.update(headers)
        request.headers.update(creds.headers)
        if creds.params:
            request.url = request.url.copy_merge_params(creds.params)
        yield request


def _stdio(config: ExternalToolConfig) -> AbstractAsyncContextManager[TransportStreams]:
    command = config.command
    env = {k: resolve(v, server=config.name) for k, v in config.env.items()}
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=env or None, cwd=config.cwd
    )
    return stdio_client(params, errlog=sys.stderr)


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
    config: ExternalToolConfig, auth: AuthResolver, redactor: Redactor
) -> AbstractAsyncContextManager[TransportStreams]:
    """Return the transport context manager for ``config`` (stdio, streamable HTTP or SSE).

    Raises:
        SecretNotFoundError: a ``${ENV_VAR}`` in ``env`` is not set (stdio).
    """
    if config.resolved_transport == "stdio":
        return _stdio(config)
    return _http(config, auth, redactor)
