"""Errors raised by ``penguiflow.tools``.

Every tool failure carries the tool name, the server id (the config's ``name``) and, when
the server sent one, the protocol payload (JSON-RPC ``code``/``message``/``data`` or the HTTP
status). Secrets are removed from messages and data before an error is built::

    PenguiFlowError
    ├── UsageError
    │   ├── ToolConfigError          (also ValueError) a bad ExternalToolConfig or loader input
    │   │   └── SecretNotFoundError  a ``${ENV_VAR}`` placeholder names an unset variable
    │   └── ToolNodeStateError       (also RuntimeError) used before connect() or after close()
    └── RunError
        └── ToolError                a tool call failed; ``retryable`` says if trying again helps
            ├── ToolNotAllowedError        the allowlist does not name the tool
            ├── ToolNotFoundError          the server no longer offers the tool
            ├── ToolArgumentsError         (also ValueError) args do not match the input schema
            ├── ToolTimeoutError           (also TimeoutError) an attempt ran out of time  [retryable]
            ├── ToolConnectionError        the server is unreachable or the session was lost [retryable]
            │   └── ToolCircuitOpenError   too many failures in a row; calls fail fast for a while
            ├── ToolRateLimitError         HTTP 429 / rate limited; carries ``retry_after`` [retryable]
            ├── ToolServerError            HTTP 5xx or a JSON-RPC internal error      [retryable]
            ├── ToolClientError            HTTP 4xx or a JSON-RPC request error
            │   └── ToolAuthError          401/403, or a credential could not be obtained
            │       └── AuthorizationStateError  an OAuth callback's state is unknown/used/expired
            ├── ToolExecutionError         the tool ran and reported an error (MCP ``isError``)
            └── ToolResponseError          the response was too large or could not be decoded

``asyncio.CancelledError`` is never wrapped and never retried.
"""

from __future__ import annotations

from typing import Any, ClassVar

from penguiflow.errors import ConfigError, RunError, UsageError

__all__ = [
    "AuthorizationStateError",
    "SecretNotFoundError",
    "ToolArgumentsError",
    "ToolAuthError",
    "ToolCircuitOpenError",
    "ToolClientError",
    "ToolConfigError",
    "ToolConnectionError",
    "ToolError",
    "ToolExecutionError",
    "ToolNodeStateError",
    "ToolNotAllowedError",
    "ToolNotFoundError",
    "ToolRateLimitError",
    "ToolResponseError",
    "ToolServerError",
    "ToolTimeoutError",
]


class ToolConfigError(ConfigError):
    """An ``ExternalToolConfig`` (or the file it was loaded from) has a bad value."""


class SecretNotFoundError(ToolConfigError):
    """A ``${ENV_VAR}`` placeholder names a variable that is not set.

    Attributes:
        variable: the missing environment variable's name (never its value).
        server: the config name that referenced it.
    """

    def __init__(self, variable: str, server: str | None = None) -> None:
        self.variable = variable
        self.server = server
        where = f" (tool config {server!r})" if server else ""
        super().__init__(
            f"environment variable {variable!r} is not set{where}; a '${{{variable}}}' "
            f"placeholder needs it at call time: export {variable}=... before calling the tool"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretNotFoundError, (self.variable, self.server))


class ToolNodeStateError(UsageError, RuntimeError):
    """A ``ToolNode`` was used in a state that does not allow the call."""


class ToolError(RunError):
    """A tool call failed.

    Attributes:
        tool: the tool's name as the server knows it (``None`` for server-wide failures).
        server: the server id (``ExternalToolConfig.name``).
        message: what went wrong, without secrets.
        code: the JSON-RPC error code, when the server sent one.
        status: the HTTP status, for HTTP tools and MCP over HTTP.
        data: the error's ``data`` payload (JSON-RPC) or a bounded body excerpt (HTTP),
            with secrets removed.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
        attempts: how many attempts were made before giving up.
        retryable: whether trying the same call again may succeed.
    """

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        tool: str | None = None,
        server: str | None = None,
        code: int | None = None,
        status: int | None = None,
        data: Any = None,
        retry_after: float | None = None,
        attempts: int = 1,
        retryable: bool | None = None,
        replay_safe: bool | None = None,
    ) -> None:
        self.message = message
        self.tool = tool
        self.server = server
        self.code = code
        self.status = status
        self.data = data
        self.retry_after = retry_after
        self.attempts = attempts
        self.retryable = self.default_retryable if retryable is None else retryable
        # True: the server certainly did not run the call (safe to send again whatever the
        # tool does). None: unknown, only tools marked read-only/idempotent are retried.
        self.replay_safe = replay_safe
        super().__init__(str(self))

    @property
    def qualified_name(self) -> str | None:
        """``"{server}.{tool}"``, the catalog name of the tool, when both are known."""
        if self.server and self.tool:
            return f"{self.server}.{self.tool}"
        return self.tool or self.server

    def __str__(self) -> str:
        if self.tool:
            prefix = f"tool {self.qualified_name!r}: "
        else:
            prefix = f"tool server {self.server!r}: " if self.server else ""
        parts = [prefix, self.message]
        if self.code is not None:
            parts.append(f" (code {self.code})")
        if self.status is not None:
            parts.append(f" (HTTP {self.status})")
        return "".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tool={self.tool!r}, server={self.server!r}, "
            f"code={self.code!r}, status={self.status!r}, message={self.message!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description (safe to log, store or show to an LLM)."""
        return {
            "type": type(self).__name__,
            "tool": self.tool,
            "server": self.server,
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "data": self.data,
            "retry_after": self.retry_after,
            "attempts": self.attempts,
            "retryable": self.retryable,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            "tool": self.tool,
            "server": self.server,
            "code": self.code,
            "status": self.status,
            "data": self.data,
            "retry_after": self.retry_after,
            "attempts": self.attempts,
            "retryable": self.retryable,
            "replay_safe": self.replay_safe,
        }
        return (_rebuild_tool_error, (type(self), self.message, state))


def _rebuild_tool_error(cls: type[ToolError], message: str, state: dict[str, Any]) -> ToolError:
    return cls(message, **state)


class ToolNotAllowedError(ToolError):
    """The tool is not named by the config's ``allow`` list, or is named by ``deny``."""


class ToolNotFoundError(ToolError):
    """The server does not (or no longer) offer a tool of that name."""


class ToolArgumentsError(ToolError, ValueError):
    """The arguments do not match the tool's input schema; nothing was sent."""


class ToolTimeoutError(ToolError, TimeoutError):
    """One attempt took longer than its ``timeout_s``; the attempt was cancelled."""

    default_retryable = True


class ToolConnectionError(ToolError):
    """The server could not be reached, or the connection/session was lost."""

    default_retryable = True


class ToolCircuitOpenError(ToolConnectionError):
    """The circuit breaker is open after repeated failures; retry after ``retry_after``."""


class ToolRateLimitError(ToolError):
    """The server rate-limited the call (HTTP 429); ``retry_after`` says how long to wait."""

    default_retryable = True


class ToolServerError(ToolError):
    """The server failed (HTTP 5xx, or a JSON-RPC internal error)."""

    default_retryable = True


class ToolClientError(ToolError):
    """The server rejected the request (HTTP 4xx, or a JSON-RPC request error)."""


class ToolAuthError(ToolClientError):
    """Authentication failed (401/403) or a credential could not be obtained."""


class AuthorizationStateError(ToolAuthError):
    """An OAuth callback's ``state`` is unknown, already used, expired, or for another user.

    Attributes:
        reason: ``unknown``, ``used``, ``expired``, ``wrong_user`` or ``wrong_provider``.
    """

    def __init__(self, message: str, *, reason: str = "unknown", **fields: Any) -> None:
        self.reason = reason
        super().__init__(message, **fields)

    def __reduce__(self) -> tuple[Any, ...]:
        rebuilt = super().__reduce__()
        return (_rebuild_state_error, (self.reason, rebuilt[1]))


def _rebuild_state_error(reason: str, args: tuple[Any, ...]) -> AuthorizationStateError:
    _cls, message, state = args
    return AuthorizationStateError(message, reason=reason, **state)


class ToolExecutionError(ToolError):
    """The tool ran and reported a failure (an MCP result with ``isError``)."""


class ToolResponseError(ToolError):
    """The response exceeded the size limit or could not be decoded."""
