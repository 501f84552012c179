"""The HTTP adapter: declared operations called through one pooled ``httpx.AsyncClient``.

Requests only go to the configured ``base_url``: the path comes from the config, argument
values are percent-encoded into it, and redirects are never followed.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ._allowlist import ToolFilter
from ._results import ContentRef, ToolResult, size_error
from ._retry import CircuitBreaker, parse_retry_after
from ._secrets import Redactor, resolve_mapping, secret_values
from ._types import ToolDef
from ._user_tokens import CallerIdentity
from .auth import AuthResolver, OAuth2ClientCredentials
from .config import ExternalToolConfig, HttpOperation
from .errors import (
    ToolArgumentsError,
    ToolAuthError,
    ToolClientError,
    ToolConfigError,
    ToolConnectionError,
    ToolError,
    ToolRateLimitError,
    ToolServerError,
    ToolTimeoutError,
)
from .openapi import operation_names, operations_from_openapi, read_openapi

__all__ = ["HttpBackend"]

log = logging.getLogger("penguiflow.tools.http")
_QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_BODY_EXCERPT = 500


class HttpBackend:
    """Runs the declared operations of one HTTP API.

    Args:
        config: the API's config (``transport="http"``).
        client: the pooled client (its ``base_url`` is the config's).
        auth: per-call credentials.
        redactor: masks secrets in error payloads.
        breaker: the API's circuit breaker.
    """

    def __init__(
        self,
        config: ExternalToolConfig,
        *,
        client: httpx.AsyncClient,
        auth: AuthResolver,
        redactor: Redactor,
        breaker: CircuitBreaker,
    ) -> None:
        self._config = config
        self._server = config.name
        self._client = client
        self._auth = auth
        self._redactor = redactor
        self._breaker = breaker
        base = urlsplit(str(config.base_url))
        self._origin = (base.scheme, base.netloc)
        self._offered: list[str] = []

    @property
    def offered(self) -> list[str]:
        """The declared operations and every operation of the OpenAPI document, by name."""
        return list(self._offered)

    async def open(self) -> list[ToolDef]:
        """Return the declared operations, and those of the OpenAPI document, as tools.

        Raises:
            ToolConfigError: the OpenAPI document cannot be read, or names clash.
        """
        cfg = self._config
        operations = list(cfg.operations)
        self._offered = [op.name for op in operations]
        if cfg.openapi is not None:
            document = await read_openapi(
                cfg.openapi, max_bytes=cfg.max_openapi_bytes, timeout_s=cfg.connect_timeout_s
            )
            self._offered += operation_names(document)
            allowed = ToolFilter(cfg.name, cfg.allow, cfg.deny).allowed
            declared = {op.name for op in operations}
            for op in operations_from_openapi(document, select=allowed):
                if op.name in declared:
                    raise ToolConfigError(
                        f"HTTP tool config {cfg.name!r}: the OpenAPI operation {op.name!r} "
                        "has the name of a declared operation; rename the declared one"
                    )
                operations.append(op)
        return [self._tool_def(op) for op in operations]

    async def close(self) -> None:
        """Close the pooled client; safe to call twice."""
        await self._client.aclose()

    @staticmethod
    def _tool_def(op: HttpOperation) -> ToolDef:
        return ToolDef(
            name=op.name,
            description=op.description or f"{op.method} {op.path}",
            input_schema=op.args_schema,
            read_only=op.method in ("GET", "HEAD", "OPTIONS"),
            idempotent=op.is_idempotent,
            operation=op,
        )

    def _request(
        self, op: HttpOperation, arguments: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        rest = dict(arguments)
        segments: dict[str, str] = {}
        for name in op.path_params:
            if name not in rest:
                raise ToolArgumentsError(
                    f"the path {op.path!r} needs the argument {name!r}",
                    tool=op.name,
                    server=self._server,
                )
            segments[name] = quote(str(rest.pop(name)), safe="")
        path = op.path.format_map(segments)  # httpx joins it to base_url
        headers: dict[str, str] = {}
        for name in op.header_params:
            if name in rest:
                value = _header_value(rest.pop(name))
                if "\r" in value or "\n" in value:
                    raise ToolArgumentsError(
                        f"the header argument {name!r} must not contain line breaks",
                        tool=op.name,
                        server=self._server,
                    )
                headers[name] = value
        names = op.query if op.query is not None else (rest if op.method in _QUERY_METHODS else ())
        query = {k: rest.pop(k) for k in list(names) if k in rest}
        parts: dict[str, Any] = {"params": _query_values(query)}
        if op.body_param is not None:
            if op.body_param in rest:
                parts["json"] = rest.pop(op.body_param)
        elif rest and op.method not in _QUERY_METHODS:
            parts["json"] = rest
        return path, parts, headers

    async def call(
        self, tool: ToolDef, arguments: dict[str, Any], caller: CallerIdentity | None = None
    ) -> ToolResult:
        """Make one HTTP request, with the credentials of ``caller`` for per-user auth.

        Raises:
            ToolError: classified failure (see ``penguiflow.tools.errors``).
        """
        op = tool.operation
        if op is None:
            raise ToolError("not an HTTP operation", tool=tool.name, server=self._server)
        path, parts, headers = self._request(op, arguments)
        cfg = self._config
        configured = resolve_mapping(cfg.headers, server=self._server)
        self._redactor.add_all(secret_values(cfg.headers, configured, marked=cfg.secret_headers))
        headers.update(configured)
        creds = await self._auth.credentials(caller)
        redactor = self._redactor.extended(creds.secrets) if creds.secrets else self._redactor
        headers.update(creds.headers)
        parts["params"] = {**parts["params"], **creds.params}
        request = self._client.build_request(op.method, path, headers=headers, **parts)
        if (request.url.scheme, request.url.netloc.decode()) != self._origin:
            raise ToolClientError(
                "the request URL left base_url; refusing to send it",
                tool=op.name,
                server=self._server,
            )
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._breaker.record_failure()
            raise ToolConnectionError(
                f"could not connect to {self._config.base_url} ({type(exc).__name__})",
                tool=op.name,
                server=self._server,
                replay_safe=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise ToolTimeoutError(
                f"the HTTP request timed out ({type(exc).__name__})",
                tool=op.name,
                server=self._server,
            ) from None
        except httpx.TransportError as exc:
            raise ToolConnectionError(
                f"the HTTP request failed ({type(exc).__name__})", tool=op.name, server=self._server
            ) from None
        self._breaker.record_success()
        try:
            body = await self._read(response, op.name)
        finally:
            await response.aclose()
        if response.status_code >= 300:
            raise self._status_error(response, body, op.name, redactor)
        return redactor.result(self._result(response, body, tool))

    async def _read(self, response: httpx.Response, tool: str) -> bytes:
        limit = self._config.max_response_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise size_error(tool=tool, server=self._server, size=int(declared), limit=limit)
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > limit:
                raise size_error(tool=tool, server=self._server, size=total, limit=limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(
        self, response: httpx.Response, body: bytes, tool: str, redactor: Redactor
    ) -> ToolError:
        status = response.status_code
        excerpt = redactor.excerpt(body.decode("utf-8", errors="replace"), _BODY_EXCERPT)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        fields: dict[str, Any] = {
            "tool": tool,
            "server": self._server,
            "status": status,
            "data": excerpt or None,
            "retry_after": retry_after,
        }
        reason = response.reason_phrase or "error"
        if status == 429:
            return ToolRateLimitError(f"rate limited: {reason}", replay_safe=True, **fields)
        if status >= 500:
            # 503 with Retry-After: the server says it did not take the request.
            safe = True if status == 503 and retry_after is not None else None
            return ToolServerError(f"server error: {reason}", replay_safe=safe, **fields)
        if status in (401, 403):
            if status == 401 and isinstance(self._config.auth, OAuth2ClientCredentials):
                self._auth.invalidate()
            return ToolAuthError(f"not authorised: {reason}; check the auth settings", **fields)
        if status < 400:
            return ToolClientError(
                f"the API answered with a redirect ({status}); redirects are not followed, fix "
                "base_url or the operation path",
                **fields,
            )
        return ToolClientError(f"request rejected: {reason}", **fields)

    def _result(self, response: httpx.Response, body: bytes, tool: ToolDef) -> ToolResult:
        qualified = f"{self._server}.{tool.name}"
        ctype = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                data = json.loads(body)
            except ValueError:
                pass
            else:
                return ToolResult(tool=qualified, structured=data, status=response.status_code)
        if (
            not body
            or ctype.startswith("text/")
            or ctype in ("", "application/json", "application/xml")
        ):
            text = body.decode(response.encoding or "utf-8", errors="replace")
            return ToolResult(tool=qualified, text=text or None, status=response.status_code)
        inline = len(body) <= self._config.max_inline_bytes
        ref = ContentRef(
            kind="resource",
            uri=str(response.url.copy_with(query=None)),
            mime_type=ctype,
            size_bytes=len(body),
            inline=inline,
            data=base64.b64encode(body).decode("ascii") if inline else None,
        )
        return ToolResult(tool=qualified, refs=[ref], status=response.status_code)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_values(query: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in query.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif value is not None:
            out[key] = str(value) if not isinstance(value, str) else value
    return out
