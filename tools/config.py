"""``ExternalToolConfig``: how to reach an MCP server or an HTTP API, and what it may do.

Configs are plain pydantic models, so they load from a dict, a TOML document or a YAML
document (YAML needs PyYAML installed). Secrets never appear in reprs or dumps.
"""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from penguiflow._renames import renamed_fields
from penguiflow.backoff import backoff_delay

from .auth import AuthConfig, NoAuth
from .errors import ToolConfigError

__all__ = [
    "CircuitBreakerConfig",
    "ExternalToolConfig",
    "HttpOperation",
    "RetryConfig",
    "load_tool_configs",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
    }
)
"""Header names an argument may never set."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_RETRY_RENAMES = {"backoff_s": "backoff_base", "max_backoff_s": "max_backoff"}


class RetryConfig(_Model):
    """Retries of failed attempts. Only retryable errors are retried.

    A retryable failure (timeout, lost connection, rate limit, 5xx) is tried again only when
    repeating the call is safe: the server certainly did not run it (connection refused,
    429, session expired), or the tool is read-only / idempotent (MCP annotations, the
    config's ``idempotent`` patterns, or an idempotent HTTP method).
    """

    attempts: int = Field(default=3, ge=1, strict=True)
    """Total attempts, the first one included."""
    backoff_base: float = Field(default=0.25, ge=0, strict=True)
    """Seconds to wait before the first retry."""
    backoff_mult: float = Field(default=2.0, ge=1, strict=True)
    """Factor applied to the wait after each retry."""
    max_backoff: float = Field(default=10.0, ge=0, strict=True)
    """The longest wait between two attempts, in seconds."""
    status_codes: frozenset[StrictInt] = frozenset({429, 500, 502, 503, 504})
    """HTTP statuses that may be retried."""
    respect_retry_after: StrictBool = True
    """Wait as long as the server's ``Retry-After`` asks, up to ``max_retry_after_s``."""
    max_retry_after_s: float = Field(default=60.0, ge=0, strict=True)
    """A longer ``Retry-After`` is not waited for: the error is raised instead."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_fields(cls, data: Any) -> Any:
        return renamed_fields(data, "RetryConfig", _RETRY_RENAMES)

    def backoff_for(self, retry_number: int) -> float:
        """Return the wait before retry ``retry_number`` (1 for the first retry)."""
        return backoff_delay(
            retry_number,
            backoff_base=self.backoff_base,
            backoff_mult=self.backoff_mult,
            max_backoff=self.max_backoff,
        )


class CircuitBreakerConfig(_Model):
    """Stop calling a server that keeps failing to connect."""

    failure_threshold: int = Field(default=5, ge=1, strict=True)
    """Consecutive connection failures that open the circuit."""
    reset_after_s: float = Field(default=30.0, gt=0, strict=True)
    """How long the circuit stays open before one trial call is let through."""


class HttpOperation(_Model):
    """One HTTP endpoint exposed as a tool.

    Path parameters (``/items/{item_id}``) are taken from the arguments and
    percent-encoded; the rest go to the query string (``query`` names them, by default
    all of them for GET/HEAD/DELETE/OPTIONS) or to the JSON body.
    """

    name: str
    """The tool name (the catalog name is ``"{config.name}.{name}"``)."""
    method: HttpMethod = "GET"
    path: str
    """A path relative to ``base_url``, with ``{param}`` placeholders."""
    description: str = ""
    """What the operation does, for the LLM."""
    args_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    """JSON Schema of the arguments (an object schema)."""
    query: tuple[str, ...] | None = None
    """Arguments sent in the query string; ``None`` picks by method."""
    header_params: tuple[str, ...] = ()
    """Arguments sent as request headers (the argument name is the header name)."""
    body_param: str | None = None
    """The argument whose value is the whole JSON body (``None``: the remaining arguments
    form the body, for methods that take one)."""
    idempotent: StrictBool | None = None
    """Safe to repeat after a timeout or 5xx; ``None`` decides by method."""

    @model_validator(mode="after")
    def _check(self) -> HttpOperation:
        if not _NAME.match(self.name):
            raise ValueError(
                f"operation name {self.name!r} must start with a letter and hold only "
                "letters, digits, '_' or '-'"
            )
        if not self.path.startswith("/") or "://" in self.path or ".." in self.path:
            raise ValueError(
                f"operation {self.name!r}: path {self.path!r} must be a path relative to "
                "base_url starting with '/', without '..' or a scheme"
            )
        if self.args_schema.get("type", "object") != "object":
            raise ValueError(f"operation {self.name!r}: args_schema must be an object schema")
        reserved = sorted(h for h in self.header_params if h.lower() in RESERVED_HEADERS)
        if reserved:
            raise ValueError(
                f"operation {self.name!r}: header_params {reserved} are reserved for the "
                "transport and auth settings; remove them"
            )
        return self

    @property
    def path_params(self) -> tuple[str, ...]:
        """The ``{param}`` names of the path template."""
        return tuple(_PATH_PARAM.findall(self.path))

    @property
    def is_idempotent(self) -> bool:
        """Whether a failed call may be sent again."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in _IDEMPOTENT_METHODS


class ExternalToolConfig(_Model):
    """An MCP server or an HTTP API whose tools become PenguiFlow nodes.

    Deny by default: only tools named by ``allow`` (and not by ``deny``) are discovered and
    callable; ``allow=["*"]`` allows everything explicitly. Patterns are shell globs matched
    against the whole tool name (either the server's name or ``"{name}.{tool}"``).
    """

    name: str
    """Namespace of the tools: the catalog names are ``"{name}.{tool}"``."""
    transport: Literal["mcp", "http"]
    """``"mcp"`` for an MCP server, ``"http"`` for declared HTTP operations."""
    connection: str | tuple[str, ...] | None = None
    """MCP: a command line (stdio) or a URL (streamable HTTP / SSE)."""
    mcp_transport: Literal["stdio", "streamable_http", "sse", "auto"] = "auto"
    """MCP transport; ``"auto"`` picks stdio for commands, streamable HTTP for URLs."""
    base_url: str | None = None
    """HTTP: the only URL prefix requests may go to."""
    operations: tuple[HttpOperation, ...] = ()
    """HTTP: the declared operations."""
    openapi: str | dict[str, Any] | None = None
    """HTTP: an OpenAPI 3 document (a file path, an http(s) URL, or the parsed document)
    whose operations, chosen by ``allow``/``deny`` on their ``operationId``, become tools.
    It is read by ``connect()``; its ``servers`` are ignored (requests go to ``base_url``)."""
    max_openapi_bytes: int = Field(default=5_000_000, ge=1, strict=True)
    """The largest OpenAPI document accepted (file or download)."""
    env: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra environment for a stdio server (values may use ``${ENV_VAR}``). Every value
    is a secret, masked wherever a result, error or log could show it, except the
    variables named in ``public_env``."""
    public_env: tuple[str, ...] = ()
    """Variables of ``env`` whose values are not secret (a log level, a data directory):
    they are not masked in results."""
    cwd: str | None = None
    """Working directory of a stdio server."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Headers sent with every HTTP request (values may use ``${ENV_VAR}``). Values that
    come from ``${ENV_VAR}`` are secrets, masked wherever a result, error or log could show
    them; so are the headers named in ``secret_headers``."""
    secret_headers: tuple[str, ...] = ()
    """Headers whose literal values are secrets too (names compared without case)."""
    auth: AuthConfig = Field(default_factory=NoAuth)
    """Credentials: none, bearer, api_key, basic or oauth2_client_credentials."""
    allow: tuple[str, ...] = ()
    """Tool names or globs that may be used. Empty allows nothing."""
    deny: tuple[str, ...] = ()
    """Tool names or globs that may never be used (wins over ``allow``)."""
    require_approval: tuple[str, ...] = ()
    """Tool names or globs that must be approved by a human before each call."""
    idempotent: tuple[str, ...] = ()
    """MCP tools (names or globs) that are safe to repeat, besides read-only/idempotent ones."""
    timeout_s: float | None = Field(default=30.0, gt=0, strict=True)
    """The most seconds one attempt may take (``None``: no limit)."""
    tool_timeouts: dict[str, StrictFloat] = Field(default_factory=dict)
    """Per-tool ``timeout_s`` overrides, by tool name or glob (first match wins)."""
    connect_timeout_s: float = Field(default=15.0, gt=0, strict=True)
    """Deadline for starting a server and the MCP ``initialize`` handshake."""
    close_timeout_s: float = Field(default=10.0, gt=0, strict=True)
    """Deadline for an orderly shutdown before the server is killed."""
    retry: RetryConfig = Field(default_factory=RetryConfig)
    """Retry policy for retryable failures."""
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    """When to stop calling a failing server for a while."""
    max_concurrency: int = Field(default=8, ge=1, strict=True)
    """Calls in flight to this server at once (across all its tools)."""
    cache_tools: StrictBool = True
    """Keep the tool list across reconnects; refresh it only on ``tools/list_changed``."""
    max_response_bytes: int = Field(default=1_000_000, ge=1, strict=True)
    """Larger responses fail with ``ToolResponseError``."""
    max_inline_bytes: int = Field(default=64_000, ge=0, strict=True)
    """Images and resources larger than this are returned as references without data."""

    @model_validator(mode="after")
    def _check(self) -> ExternalToolConfig:
        if not _NAME.match(self.name):
            raise ValueError(
                f"name {self.name!r} must start with a letter and hold only letters, digits, "
                "'_' or '-' (it prefixes the catalog names, as in 'name.tool')"
            )
        bad = {k: v for k, v in self.tool_timeouts.items() if not v > 0}
        if bad:
            raise ValueError(f"tool_timeouts values must be > 0 seconds, got {bad}")
        if self.transport == "mcp":
            self._check_mcp()
        else:
            self._check_http()
        return self

    def timeout_for(self, tool: str) -> float | None:
        """Return the per-attempt timeout of ``tool`` (an override, else ``timeout_s``)."""
        qualified = f"{self.name}.{tool}"
        for pattern, seconds in self.tool_timeouts.items():
            if fnmatchcase(tool, pattern) or fnmatchcase(qualified, pattern):
                return seconds
        return self.timeout_s

    def _check_mcp(self) -> None:
        if not self.connection:
            raise ValueError(
                f"MCP tool config {self.name!r} needs connection=: a command line for stdio "
                "or the server URL"
            )
        if self.operations or self.openapi is not None:
            raise ValueError(
                f"MCP tool config {self.name!r}: operations= and openapi= are for transport='http'"
            )
        is_url = isinstance(self.connection, str) and self.connection.startswith(
            ("http://", "https://")
        )
        if self.mcp_transport == "stdio" and is_url:
            raise ValueError(
                f"MCP tool config {self.name!r}: mcp_transport='stdio' needs a command, got "
                f"the URL {self.connection!r}; use 'streamable_http' or 'sse'"
            )
        if self.mcp_transport in ("streamable_http", "sse") and not is_url:
            raise ValueError(
                f"MCP tool config {self.name!r}: mcp_transport={self.mcp_transport!r} needs an "
                "http(s):// URL in connection="
            )

    def _check_http(self) -> None:
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"HTTP tool config {self.name!r} needs base_url='http(s)://...', "
                f"got {self.base_url!r}"
            )
        if not self.operations and self.openapi is None:
            raise ValueError(
                f"HTTP tool config {self.name!r} declares no operations= and no openapi= "
                "document; give at least one"
            )
        names = [op.name for op in self.operations]
        if len(set(names)) != len(names):
            raise ValueError(f"HTTP tool config {self.name!r}: operation names must be unique")

    @property
    def resolved_transport(self) -> Literal["stdio", "streamable_http", "sse"]:
        """The MCP transport to use, with ``"auto"`` decided."""
        if self.mcp_transport != "auto":
            return self.mcp_transport
        if isinstance(self.connection, str) and self.connection.startswith(("http://", "https://")):
            return "streamable_http"
        return "stdio"

    @property
    def command(self) -> list[str]:
        """The stdio command line as a list of arguments."""
        if isinstance(self.connection, str):
            return shlex.split(self.connection)
        return list(self.connection or ())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExternalToolConfig:
        """Build a config from a mapping.

        Raises:
            ToolConfigError: the mapping is not a valid config (the message lists why).
        """
        name = data.get("name", "?") if isinstance(data, Mapping) else "?"
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ToolConfigError(f"invalid tool config {name!r}: {_errors(exc)}") from None
        except RecursionError:
            raise ToolConfigError(
                f"invalid tool config {name!r}: values nest too deeply; flatten them"
            ) from None

    @classmethod
    def from_toml(cls, text: str) -> list[ExternalToolConfig]:
        """Parse TOML holding ``[[tools]]`` tables (or one table at the top level)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ToolConfigError(f"tool config is not valid TOML: {exc}") from None
        except RecursionError:
            raise ToolConfigError(_TOO_DEEP.format(kind="TOML")) from None
        return _from_document(data)

    @classmethod
    def from_yaml(cls, text: str) -> list[ExternalToolConfig]:
        """Parse YAML holding a ``tools:`` list (or one mapping). Needs PyYAML."""
        try:
            yaml: Any = importlib.import_module("yaml")
        except ImportError:
            raise ToolConfigError(
                "loading YAML tool configs needs PyYAML: pip install pyyaml (or use TOML)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ToolConfigError(f"tool config is not valid YAML: {exc}") from None
        except RecursionError:
            raise ToolConfigError(_TOO_DEEP.format(kind="YAML")) from None
        return _from_document(data)


_TOO_DEEP = (
    "tool config {kind} nests tables or lists too deeply to read; a tool config needs only "
    "a few levels: flatten it"
)


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _from_document(data: Any) -> list[ExternalToolConfig]:
    if isinstance(data, Mapping) and "tools" in data:
        data = data["tools"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise ToolConfigError(
            "a tool config document must hold a 'tools' list of tables, or one table"
        )
    return [ExternalToolConfig.from_dict(item) for item in data]


def load_tool_configs(path: str | Path) -> list[ExternalToolConfig]:
    """Load tool configs from a ``.toml``, ``.yaml`` or ``.yml`` file.

    Raises:
        ToolConfigError: unknown extension, unreadable file, or invalid content.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ToolConfigError(
            f"tool config file {str(file)!r} must end in .toml, .yaml or .yml, got {suffix!r}"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolConfigError(f"cannot read tool config file {str(file)!r}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ToolConfigError(
            f"tool config file {str(file)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        if suffix == ".toml":
            return ExternalToolConfig.from_toml(text)
        return ExternalToolConfig.from_yaml(text)
    except ToolConfigError as exc:
        raise ToolConfigError(f"{file}: {exc}") from None
