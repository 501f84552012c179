"""The MCP adapter: one supervisor task per server owns the SDK session.

The supervisor task enters (and later exits) the transport and ``ClientSession`` context
managers, so their anyio cancel scopes never cross tasks. Callers in other tasks only send
requests on the live session. When the server dies or forgets the session, the supervisor
reconnects with backoff; a circuit breaker stops it from hammering a dead server. Closing
ends input first, then the transport stops the server (close stdin, grace period, then
SIGTERM and SIGKILL to its whole process group), within ``close_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from contextlib import AsyncExitStack
from typing import Any

import anyio
import mcp_types as types
from mcp import ClientSession
from mcp.client.session import IncomingMessage
from mcp.shared.exceptions import MCPError

from ._allowlist import matches
from ._mcp_stdio import StdioServer
from ._mcp_transport import open_transport
from ._results import ToolResult, error_text, from_mcp
from ._retry import CircuitBreaker
from ._secrets import Redactor
from ._types import ToolDef
from ._user_tokens import CallerIdentity
from .auth import AuthResolver
from .config import ExternalToolConfig
from .errors import (
    SecretNotFoundError,
    ToolClientError,
    ToolConnectionError,
    ToolError,
    ToolExecutionError,
    ToolNotFoundError,
    ToolServerError,
    ToolTimeoutError,
)

__all__ = ["McpBackend"]

log = logging.getLogger("penguiflow.tools.mcp")
_CLIENT_INFO = types.Implementation(name="penguiflow", version="0.1.0")
_STDERR_SHOWN = 10
"""How many of a failed server's last stderr lines its error shows."""


def _single(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups that hold one error each."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class _WatchedRead:
    """Passes the transport's read stream through and reports its end (server gone)."""

    def __init__(self, inner: Any, on_end: asyncio.Event) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end.set()
            raise

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedRead:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class McpBackend:
    """Connects to one MCP server and runs tool calls on it.

    Args:
        config: the server's config (``transport="mcp"``).
        auth: per-request credentials for HTTP transports.
        redactor: masks secrets in error payloads.
        breaker: the server's circuit breaker.
        on_tools_changed: called after the tool list was refreshed.
    """

    def __init__(
        self,
        config: ExternalToolConfig,
        *,
        auth: AuthResolver,
        redactor: Redactor,
        breaker: CircuitBreaker,
        on_tools_changed: Any = None,
    ) -> None:
        self._config = config
        self._server = config.name
        self._auth = auth
        self._redactor = redactor
        self._breaker = breaker
        self._on_tools_changed = on_tools_changed
        self._session: ClientSession | None = None
        self._generation = 0
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self._list_changed = asyncio.Event()
        self._change = asyncio.Event()
        self._connect_error: Exception | None = None
        self._task: asyncio.Task[None] | None = None
        self._scope: anyio.CancelScope | None = None
        self._stdio: StdioServer | None = None
        self.tools: dict[str, ToolDef] = {}
        self._listed = False

    @property
    def offered(self) -> list[str]:
        """Every tool the server lists, allowed or not."""
        return list(self.tools)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> list[ToolDef]:
        """Start the supervisor, wait for the first session and list the tools.

        Raises:
            ToolConnectionError: the first connection failed.
            ToolTimeoutError: it took longer than ``connect_timeout_s``.
        """
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-supervisor:{self._server}")
        try:
            async with asyncio.timeout(self._config.connect_timeout_s):
                while self._session is None:
                    if self._connect_error is not None:
                        raise self._connect_error
                    await self._wait_change()
        except TimeoutError:
            raise ToolTimeoutError(
                f"could not connect within connect_timeout_s={self._config.connect_timeout_s}",
                server=self._server,
            ) from None
        return list(self.tools.values())

    async def close(self) -> None:
        """Stop the supervisor and the server; safe to call twice, never leaves a process.

        The shutdown goes on even if the caller is cancelled meanwhile.
        """
        task = self._task
        if task is None:
            return
        self._stopping.set()
        if self._scope is not None:
            # Interrupts a connection attempt too; the SDK then stops the server in order.
            self._scope.cancel()
        self._changed()
        if task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=self._config.close_timeout_s)
        if not done:
            log.warning(
                "MCP server %r did not stop in time; cancelling its supervisor", self._server
            )
            task.cancel()
            await asyncio.wait({task})

    # -- supervisor --------------------------------------------------------------------------

    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def _wait_change(self) -> None:
        await self._change.wait()

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            if self._breaker_open():
                await self._sleep_unless_stopping(self._config.circuit_breaker.reset_after_s / 4)
                continue
            try:
                await self._serve_once()
                failures = 0
            except Exception as exc:  # the connection attempt failed; report and back off
                error = _single(exc)
                if isinstance(error, SecretNotFoundError):  # config: retrying cannot help
                    self._connect_error = error
                    self._stopping.set()
                else:
                    failures += 1
                    self._breaker.record_failure()
                    self._connect_error = self._connect_failure(error)
                    log.info(
                        "MCP server %r: connection failed: %s", self._server, self._connect_error
                    )
            finally:
                self._session = None
                self._changed()
            if not self._stopping.is_set():
                await self._sleep_unless_stopping(self._config.retry.backoff_for(max(failures, 1)))

    def _breaker_open(self) -> bool:
        try:
            self._breaker.check()
        except ToolError:
            return True
        return False

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def _connect_failure(self, exc: BaseException) -> ToolError:
        if isinstance(exc, ToolError):
            return exc
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        stdio = self._stdio
        if stdio is None:
            message = (
                f"could not reach the MCP server at {self._config.connection} ({cause}); "
                "check the URL and that the server is running"
            )
        else:
            message = (
                f"{self._startup_failure(stdio, cause)} (command: {shlex.join(stdio.command)})"
            )
            lines = list(stdio.stderr)[-_STDERR_SHOWN:]
            if lines:
                message += "; its last stderr lines:\n" + "\n".join(f"  | {line}" for line in lines)
            else:
                message += "; it wrote nothing to stderr"
        return ToolConnectionError(
            self._redactor.text(message), server=self._server, replay_safe=True
        )

    def _startup_failure(self, stdio: StdioServer, cause: str) -> str:
        if stdio.exit_status is not None:
            when = "" if self._listed else " while starting"
            return f"the MCP server {stdio.describe_exit()}{when}"
        if self._listed:
            return f"the connection to the MCP server failed ({cause})"
        return f"the MCP server did not complete the MCP handshake ({cause})"

    async def _serve_once(self) -> None:
        self._lost = asyncio.Event()
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._stopping.is_set():
                scope.cancel()
            try:
                await self._connect_and_serve()
            finally:
                self._scope = None

    async def _connect_and_serve(self) -> None:
        if self._config.resolved_transport == "stdio":
            self._stdio = StdioServer(self._config.command)
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(
                open_transport(self._config, self._auth, self._redactor, self._stdio)
            )
            session = ClientSession(
                _WatchedRead(read, self._lost),
                write,
                message_handler=self._on_message,
                client_info=_CLIENT_INFO,
            )
            await stack.enter_async_context(session)
            with anyio.fail_after(self._config.connect_timeout_s):
                await session.initialize()
                if not (self._config.cache_tools and self._listed):
                    await self._list_tools(session)
            self._generation += 1
            self._session = session
            self._connect_error = None
            self._breaker.record_success()
            self._changed()
            log.debug("MCP server %r: connected (session %d)", self._server, self._generation)
            await self._watch(session)

    async def _watch(self, session: ClientSession) -> None:
        while not (self._stopping.is_set() or self._lost.is_set()):
            waiters = [
                asyncio.ensure_future(self._stopping.wait()),
                asyncio.ensure_future(self._lost.wait()),
                asyncio.ensure_future(self._list_changed.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if self._list_changed.is_set() and not self._stopping.is_set():
                self._list_changed.clear()
                try:
                    with anyio.fail_after(self._config.connect_timeout_s):
                        await self._list_tools(session)
                except (MCPError, TimeoutError) as exc:
                    log.warning("MCP server %r: tools/list failed: %s", self._server, exc)
                    continue
                if self._on_tools_changed is not None:
                    self._on_tools_changed()
        self._session = None
        self._changed()

    async def _on_message(self, message: IncomingMessage) -> None:
        # Runs on the dispatcher's read loop: never send requests from here.
        if isinstance(message, types.ToolListChangedNotification):
            self._list_changed.set()
        elif isinstance(message, Exception):
            log.debug("MCP server %r: transport error: %r", self._server, message)

    async def _list_tools(self, session: ClientSession) -> None:
        tools: dict[str, ToolDef] = {}
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            for tool in page.tools:
                tools[tool.name] = self._tool_def(tool)
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = tools
        self._listed = True

    def _tool_def(self, tool: types.Tool) -> ToolDef:
        notes = tool.annotations
        qualified = f"{self._server}.{tool.name}"
        read_only = bool(notes and notes.read_only_hint)
        return ToolDef(
            name=tool.name,
            description=tool.description or tool.title or tool.name,
            input_schema=dict(tool.input_schema),
            read_only=read_only,
            idempotent=read_only
            or bool(notes and notes.idempotent_hint)
            or matches(self._config.idempotent, tool.name, qualified),
            destructive=bool(notes and notes.destructive_hint),
        )

    # -- calls ------------------------------------------------------------------------------

    async def _live_session(self, tool: str) -> tuple[ClientSession, int]:
        while True:
            if isinstance(self._connect_error, SecretNotFoundError):
                raise self._connect_error
            if self._stopping.is_set():
                raise ToolConnectionError("the ToolNode is closing", tool=tool, server=self._server)
            session = self._session
            if session is not None and not self._lost.is_set():
                return session, self._generation
            self._breaker.check(tool)
            change = self._change
            await change.wait()
            error = self._connect_error
            if self._session is None and error is not None:
                if isinstance(error, ToolError):
                    raise type(error)(
                        error.message, tool=tool, server=self._server, replay_safe=True
                    )
                raise error

    async def call(
        self, tool: ToolDef, arguments: dict[str, Any], caller: CallerIdentity | None = None
    ) -> ToolResult:
        """Make one ``tools/call`` attempt (credentials are per server, not per ``caller``).

        Raises:
            ToolError: classified failure (see ``penguiflow.tools.errors``).
        """
        if tool.name not in self.tools:
            raise ToolNotFoundError(
                "the server no longer lists this tool", tool=tool.name, server=self._server
            )
        session, generation = await self._live_session(tool.name)
        try:
            result = await session.call_tool(tool.name, arguments)
        except MCPError as exc:
            raise self._classify(exc, tool.name, generation) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            self._mark_lost(generation)
            raise ToolConnectionError(
                f"the connection closed during the call ({type(exc).__name__})",
                tool=tool.name,
                server=self._server,
            ) from None
        qualified = f"{self._server}.{tool.name}"
        if result.is_error:
            raise ToolExecutionError(
                self._redactor.text(error_text(result))[:2000],
                tool=tool.name,
                server=self._server,
                data=self._redactor.data(result.structured_content),
            )
        normalised = from_mcp(
            result,
            tool=tool.name,
            server=self._server,
            qualified=qualified,
            max_inline_bytes=self._config.max_inline_bytes,
            max_response_bytes=self._config.max_response_bytes,
        )
        return self._redactor.result(normalised)

    def _mark_lost(self, generation: int) -> None:
        if generation == self._generation:
            self._lost.set()

    def _classify(self, exc: MCPError, tool: str, generation: int) -> ToolError:
        code, data = exc.code, self._redactor.data(exc.data)
        message = self._redactor.text(exc.message)[:2000]
        fields: dict[str, Any] = {"tool": tool, "server": self._server, "code": code, "data": data}
        if code == types.CONNECTION_CLOSED:
            self._mark_lost(generation)
            return ToolConnectionError(
                f"the connection to the server was lost: {message}", **fields
            )
        lowered = message.lower()
        if code == types.INVALID_REQUEST and (
            "session terminated" in lowered or "session not found" in lowered
        ):
            # The server forgot our session (restart): the request was not processed.
            self._mark_lost(generation)
            return ToolConnectionError(
                f"the server ended the session: {message}", replay_safe=True, **fields
            )
        if code == types.REQUEST_TIMEOUT:
            return ToolTimeoutError(message, **fields)
        if code == types.INTERNAL_ERROR:
            return ToolServerError(message, **fields)
        if code in (
            types.INVALID_PARAMS,
            types.INVALID_REQUEST,
            types.METHOD_NOT_FOUND,
            types.PARSE_ERROR,
        ):
            return ToolClientError(message, **fields)
        return ToolError(message, **fields)
