"""``ToolNode``: the tools of an MCP server or HTTP API as runtime nodes and catalog entries."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from penguiflow.catalog import NodeSpec, SideEffect
from penguiflow.node import Node
from penguiflow.policy import NodePolicy
from penguiflow.types import Message

from ._allowlist import ToolFilter, matches
from ._log_masking import mask_logs_for, stop_masking_logs_for
from ._results import ToolResult
from ._retry import CircuitBreaker, run_attempts
from ._schema import ArgsValidator, build_args_model, to_arguments
from ._secrets import Redactor
from ._types import Backend, ToolDef
from ._user_tokens import AuthorizationRequired, CallerIdentity, CredentialStore, UserTokens
from .auth import AuthResolver, OAuth2ClientCredentials, OAuth2User
from .config import ExternalToolConfig
from .errors import (
    ToolArgumentsError,
    ToolConfigError,
    ToolNodeStateError,
    ToolNotAllowedError,
    ToolNotFoundError,
)

__all__ = ["ToolNode", "ToolNodeState", "caller_from"]

log = logging.getLogger("penguiflow.tools")
AUTHORIZATION_REASON = "oauth2_authorization"
"""The reason of a planner pause raised because a user must authorise a tool."""
ToolsChangedCallback = Callable[[list[NodeSpec]], None]


def _field(source: Any, name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def caller_from(message: Any, ctx: Any) -> CallerIdentity:
    """Return who a node call is made for, from the planner's tool context or the message.

    The user id comes from ``ctx.tool_context`` (a mapping or object with ``user_id``),
    else ``Message.meta["user_id"]``; the tenant from ``ctx.tenant_id``, else
    ``Message.headers.tenant``; the run from ``ctx.run_id``, else ``meta["run_id"]`` or the
    trace id.
    """
    meta = message.meta if isinstance(message, Message) else {}
    user = _field(getattr(ctx, "tool_context", None), "user_id") or meta.get("user_id")
    tenant = getattr(ctx, "tenant_id", None)
    if not tenant and isinstance(message, Message):
        tenant = message.headers.tenant
    run = getattr(ctx, "run_id", None) or meta.get("run_id")
    if not run and isinstance(message, Message):
        run = message.trace_id
    return CallerIdentity(
        tenant_id=str(tenant or "default"),
        user_id=str(user) if user else None,
        run_id=str(run) if run else None,
    )


class ToolNodeState(enum.Enum):
    """Lifecycle of a :class:`ToolNode`."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


class _ToolCall:
    """The node function of one tool: ``async def (message, ctx)``."""

    __slots__ = ("__name__", "_owner", "_tool")

    def __init__(self, owner: ToolNode, tool: str, qualified: str) -> None:
        self._owner = owner
        self._tool = tool
        self.__name__ = qualified

    async def __call__(self, message: Any, ctx: Any) -> Any:
        deadline: float | None = None
        payload = message
        if isinstance(message, Message):
            payload = message.payload
            if message.deadline_s is not None:
                deadline = time.monotonic() + (message.deadline_s - time.time())
        caller = caller_from(message, ctx)
        try:
            result = await self._owner.call(self._tool, payload, deadline=deadline, caller=caller)
        except AuthorizationRequired as signal:
            pause = getattr(ctx, "pause", None)
            if pause is None:
                raise
            # Inside a planner run: pause the run with the authorisation URL.
            await pause(AUTHORIZATION_REASON, signal.payload())
            raise
        if isinstance(message, Message):
            return message.model_copy(update={"payload": result})
        return result


class ToolNode:
    """Connects one MCP server or HTTP API and exposes its allowed tools as nodes.

    Use it as an async context manager, or call :meth:`connect` and :meth:`close`::

        async with ToolNode(config) as tools:
            catalog = tools.specs          # NodeSpecs named "{config.name}.{tool}"

    Each tool's node accepts a ``Message`` whose payload is the arguments (a dict or the
    spec's ``args_model``), or the arguments themselves, and returns a :class:`ToolResult`
    (inside a copy of the ``Message`` when it got one).

    Credentials are resolved for each call. With ``oauth2_user`` auth they belong to the
    calling user, taken from the planner's ``tool_context`` (``{"user_id": ...}`` or an
    object with ``user_id``), from ``Message.meta["user_id"]``, or from ``caller=``.

    Args:
        config: an :class:`ExternalToolConfig` or a mapping for one.
        credential_store: where per-user tokens live (a ``SqlSessionStore``); required
            for ``oauth2_user`` auth.
        on_tools_changed: called with the new specs after the server's tool list changed.
        sleep: the coroutine used to wait between attempts (inject one in tests to record
            or skip the waits); ``asyncio.sleep`` by default.
    """

    def __init__(
        self,
        config: ExternalToolConfig | Mapping[str, Any],
        *,
        credential_store: CredentialStore | None = None,
        on_tools_changed: ToolsChangedCallback | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = (
            config
            if isinstance(config, ExternalToolConfig)
            else ExternalToolConfig.from_dict(config)
        )
        if isinstance(self.config.auth, OAuth2User):
            if self.config.transport != "http":
                raise ToolConfigError(
                    f"tool config {self.config.name!r}: oauth2_user auth is supported for "
                    "transport='http' only; MCP servers share one session for all users"
                )
            if credential_store is None:
                raise ToolConfigError(
                    f"tool config {self.config.name!r} uses oauth2_user auth: pass "
                    "ToolNode(config, credential_store=store) (a SqlSessionStore) to keep "
                    "each user's tokens"
                )
        self._credential_store = credential_store
        self._on_tools_changed = on_tools_changed
        self._sleep = sleep
        self._state = ToolNodeState.NEW
        self._filter = ToolFilter(self.config.name, self.config.allow, self.config.deny)
        self._redactor = Redactor()
        self._breaker = CircuitBreaker(self.config.circuit_breaker, server=self.config.name)
        self._semaphore = asyncio.Semaphore(self.config.max_concurrency)
        self._backend: Backend | None = None
        self._token_client: Any = None
        self._tools: dict[str, ToolDef] = {}
        self._validators: dict[str, ArgsValidator] = {}
        self._nodes: dict[str, Node] = {}
        self._approved: dict[str, str] = {}
        self._extras: dict[str, dict[str, Any]] = {}
        self._specs: list[NodeSpec] = []

    # -- public API -----------------------------------------------------------------------

    @property
    def state(self) -> ToolNodeState:
        """Where the node is in its lifecycle."""
        return self._state

    @property
    def name(self) -> str:
        """The server id (the config's ``name``)."""
        return self.config.name

    @property
    def specs(self) -> list[NodeSpec]:
        """The catalog entries of the allowed tools (current after a list change)."""
        return list(self._specs)

    @property
    def changed_tools(self) -> list[str]:
        """Catalog names of tools whose definition changed since :meth:`connect`."""
        return [s.name for s in self._specs if s.extra.get("definition_changed")]

    async def connect(self) -> list[NodeSpec]:
        """Connect, discover the tools and return the allowed ones as ``NodeSpec``s.

        Calling it again while connected returns the current specs.

        Raises:
            ToolNodeStateError: the node was closed.
            ToolConnectionError: the server could not be reached or started.
            ToolTimeoutError: connecting took longer than ``connect_timeout_s``.
            SecretNotFoundError: a ``${ENV_VAR}`` the connection needs is not set.
        """
        if self._state is ToolNodeState.CONNECTED:
            return self.specs
        if self._state is not ToolNodeState.NEW:
            raise ToolNodeStateError(
                f"ToolNode {self.name!r} is {self._state.value}; create a new ToolNode to "
                "connect again"
            )
        self._state = ToolNodeState.CONNECTING
        # While connected, the SDKs' own loggers mask what this node's secrets look like.
        mask_logs_for(self._redactor)
        backend = self._make_backend()
        self._backend = backend
        try:
            self._install(await backend.open())
            self._check_allowlist(backend.offered)
        except BaseException:
            await self._shutdown()
            self._state = ToolNodeState.NEW
            raise
        self._state = ToolNodeState.CONNECTED
        log.info("tool server %r connected: %d tools allowed", self.name, len(self._specs))
        return self.specs

    async def call(
        self,
        tool: str,
        args: Any = None,
        *,
        deadline: float | None = None,
        caller: CallerIdentity | None = None,
    ) -> ToolResult:
        """Call ``tool`` (the server's name, or ``"{name}.{tool}"``) with ``args``.

        Args:
            tool: the tool to call.
            args: a dict or a model instance; fields left unset are not sent.
            deadline: a ``time.monotonic()`` time after which no attempt starts.
            caller: the end user the call is made for (per-user credentials).

        Raises:
            AuthorizationRequired: ``oauth2_user`` and the caller has no token yet (a
                ``FlowSignal``: the planner pauses the run with the authorisation URL).
            ToolNodeStateError: not connected.
            ToolNotAllowedError: the allowlist does not name the tool.
            ToolArgumentsError: the arguments do not match the tool's schema.
            ToolError: the call failed (after retries, for retryable errors).
        """
        if self._state is not ToolNodeState.CONNECTED or self._backend is None:
            raise ToolNodeStateError(
                f"ToolNode {self.name!r} is {self._state.value}; call `await connect()` (or use "
                "`async with ToolNode(...)`) before calling tools"
            )
        prefix = f"{self.name}."
        name = tool[len(prefix) :] if tool.startswith(prefix) else tool
        if not self._filter.allowed(name):
            raise ToolNotAllowedError(
                "the tool config's allow/deny lists do not permit this tool; add it to allow=",
                tool=name,
                server=self.name,
                retryable=False,
            )
        definition = self._tools.get(name)
        validator = self._validators.get(name)
        if definition is None or validator is None:
            raise ToolNotFoundError(
                "the server does not offer this tool", tool=name, server=self.name
            )
        try:
            arguments = to_arguments(args)
        except TypeError as exc:
            raise ToolArgumentsError(str(exc), tool=name, server=self.name) from None
        problems = validator.errors(arguments)
        if problems:
            raise ToolArgumentsError(
                "the arguments do not match the input schema: " + "; ".join(problems),
                tool=name,
                server=self.name,
            )
        backend = self._backend

        async def attempt() -> ToolResult:
            async with self._semaphore:
                return await backend.call(definition, arguments, caller)

        try:
            return await run_attempts(
                attempt,
                tool=name,
                server=self.name,
                retry=self.config.retry,
                timeout_s=self.config.timeout_for(name),
                replay_safe=definition.idempotent,
                breaker=self._breaker,
                deadline=deadline,
                sleep=self._sleep,
            )
        except AuthorizationRequired as signal:
            signal.tool = name
            raise

    async def close(self) -> None:
        """Close the connection and stop the server; safe to call twice."""
        if self._state in (ToolNodeState.CLOSED, ToolNodeState.CLOSING):
            return
        self._state = ToolNodeState.CLOSING
        try:
            await self._shutdown()
        finally:
            self._state = ToolNodeState.CLOSED

    async def __aenter__(self) -> ToolNode:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"ToolNode(name={self.name!r}, transport={self.config.transport!r}, "
            f"state={self._state.value!r}, tools={len(self._specs)})"
        )

    def __del__(self) -> None:
        if getattr(self, "_state", None) is ToolNodeState.CONNECTED:
            warnings.warn(
                f"ToolNode {self.config.name!r} was garbage collected while connected; "
                "call `await close()` or use `async with`",
                ResourceWarning,
                stacklevel=1,
            )

    # -- internals ------------------------------------------------------------------------

    def _make_backend(self) -> Backend:
        import httpx

        cfg = self.config
        if cfg.transport == "http":
            client = httpx.AsyncClient(
                base_url=str(cfg.base_url),
                follow_redirects=False,
                timeout=httpx.Timeout(None, connect=cfg.connect_timeout_s),
                limits=httpx.Limits(max_connections=cfg.max_concurrency),
            )
            user_tokens = None
            if isinstance(cfg.auth, OAuth2User) and self._credential_store is not None:
                user_tokens = UserTokens(
                    cfg.auth,
                    server=cfg.name,
                    store=self._credential_store,
                    http=client,
                    redactor=self._redactor,
                )
            auth = AuthResolver(
                cfg.auth,
                server=cfg.name,
                redactor=self._redactor,
                http=client,
                user_tokens=user_tokens,
            )
            from ._http import HttpBackend

            return HttpBackend(
                cfg, client=client, auth=auth, redactor=self._redactor, breaker=self._breaker
            )
        if isinstance(cfg.auth, OAuth2ClientCredentials):
            self._token_client = httpx.AsyncClient(
                follow_redirects=False, timeout=cfg.connect_timeout_s
            )
        auth = AuthResolver(
            cfg.auth, server=cfg.name, redactor=self._redactor, http=self._token_client
        )
        from ._mcp import McpBackend

        return McpBackend(
            cfg,
            auth=auth,
            redactor=self._redactor,
            breaker=self._breaker,
            on_tools_changed=self._refresh,
        )

    async def _shutdown(self) -> None:
        backend, self._backend = self._backend, None
        token_client, self._token_client = self._token_client, None

        async def release() -> None:
            async with contextlib.AsyncExitStack() as stack:
                stack.callback(stop_masking_logs_for, self._redactor)
                if token_client is not None:
                    stack.push_async_callback(token_client.aclose)
                if backend is not None:
                    await backend.close()

        # The shutdown finishes even if the caller is cancelled meanwhile.
        await asyncio.shield(asyncio.ensure_future(release()))

    def _refresh(self) -> None:
        backend = self._backend
        tools = getattr(backend, "tools", None)
        if tools is None or self._state is not ToolNodeState.CONNECTED:
            return
        self._install(list(tools.values()))
        log.info("tool server %r: tool list changed (%d allowed)", self.name, len(self._specs))
        if self._on_tools_changed is not None:
            self._on_tools_changed(self.specs)

    def _check_allowlist(self, offered: list[str]) -> None:
        """Warn about ``allow`` entries that match no tool; refuse a node left with none."""
        warnings, error = self._filter.review(offered)
        for warning in warnings:
            log.warning("tool config %r: %s", self.name, warning)
        if error is not None:
            raise ToolConfigError(f"tool config {self.name!r}: {error}")

    def _install(self, tools: list[ToolDef]) -> None:
        specs: list[NodeSpec] = []
        allowed: dict[str, ToolDef] = {}
        validators: dict[str, ArgsValidator] = {}
        for tool in tools:
            if not self._filter.allowed(tool.name):
                continue
            try:
                validators[tool.name] = ArgsValidator(tool.input_schema)
            except Exception as exc:  # jsonschema SchemaError: the server's schema is broken
                log.warning(
                    "tool %s.%s skipped: invalid input schema: %s", self.name, tool.name, exc
                )
                continue
            allowed[tool.name] = tool
            specs.append(self._spec(tool))
        self._tools, self._validators, self._specs = allowed, validators, specs

    def _spec(self, tool: ToolDef) -> NodeSpec:
        cfg = self.config
        qualified = f"{cfg.name}.{tool.name}"
        node = self._nodes.get(tool.name)
        if node is None:
            node = Node(
                _ToolCall(self, tool.name, qualified),
                name=qualified,
                policy=self._policy(tool.name),
            )
            self._nodes[tool.name] = node
        fp = tool.fingerprint
        approved = self._approved.setdefault(tool.name, fp)
        # One dict per tool, updated in place: a catalog built from earlier specs (the
        # planner's) sees the current fingerprint at call and resume time.
        extra = self._extras.setdefault(tool.name, {})
        extra.update(
            {
                "server": cfg.name,
                "tool": tool.name,
                "transport": cfg.transport,
                "fingerprint": fp,
                "approved_fingerprint": approved,
                "definition_changed": fp != approved,
                "idempotent": tool.idempotent,
                "destructive": tool.destructive,
            }
        )
        side: SideEffect = (
            "read" if tool.read_only else ("external" if cfg.transport == "mcp" else "write")
        )
        return NodeSpec(
            node=node,
            name=qualified,
            desc=tool.description,
            args_model=build_args_model(qualified, tool.input_schema),
            out_model=ToolResult,
            side_effects=side,
            tags=(cfg.name, cfg.transport),
            requires_approval=matches(cfg.require_approval, tool.name, qualified),
            extra=extra,
        )

    def _policy(self, tool: str) -> NodePolicy:
        cfg = self.config
        total: float | None = None
        per_attempt = cfg.timeout_for(tool)
        if per_attempt is not None:
            # The node retries by itself (retryable errors only), so the runtime does not:
            # its timeout bounds all attempts and the waits between them.
            retries = cfg.retry.attempts - 1
            waits = sum(cfg.retry.backoff_for(n) for n in range(1, retries + 1))
            if cfg.retry.respect_retry_after:
                waits += retries * cfg.retry.max_retry_after_s
            total = per_attempt * cfg.retry.attempts + waits + 1.0
        return NodePolicy(
            validate="none",
            timeout_s=total,
            max_retries=0,
            max_concurrency=cfg.max_concurrency,
        )
