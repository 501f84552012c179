"""External tools: MCP servers and HTTP APIs as PenguiFlow nodes.

``ToolNode(config)`` connects one server, keeps only the tools its allowlist names, and
returns ``NodeSpec``s for the planner's catalog. The ``mcp`` SDK is imported only when an
MCP server is connected, so ``import penguiflow.tools`` stays light.
"""

from __future__ import annotations

from ._results import ContentRef, ToolResult
from ._retry import BreakerState
from .auth import (
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentials,
)
from .config import (
    CircuitBreakerConfig,
    ExternalToolConfig,
    HttpOperation,
    RetryConfig,
    load_tool_configs,
)
from .errors import (
    SecretNotFoundError,
    ToolArgumentsError,
    ToolAuthError,
    ToolCircuitOpenError,
    ToolClientError,
    ToolConfigError,
    ToolConnectionError,
    ToolError,
    ToolExecutionError,
    ToolNodeStateError,
    ToolNotAllowedError,
    ToolNotFoundError,
    ToolRateLimitError,
    ToolResponseError,
    ToolServerError,
    ToolTimeoutError,
)
from .node import ToolNode, ToolNodeState

__all__ = [
    "ApiKeyAuth",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "CircuitBreakerConfig",
    "ContentRef",
    "ExternalToolConfig",
    "HttpOperation",
    "NoAuth",
    "OAuth2ClientCredentials",
    "RetryConfig",
    "SecretNotFoundError",
    "ToolArgumentsError",
    "ToolAuthError",
    "ToolCircuitOpenError",
    "ToolClientError",
    "ToolConfigError",
    "ToolConnectionError",
    "ToolError",
    "ToolExecutionError",
    "ToolNode",
    "ToolNodeState",
    "ToolNodeStateError",
    "ToolNotAllowedError",
    "ToolNotFoundError",
    "ToolRateLimitError",
    "ToolResponseError",
    "ToolResult",
    "ToolServerError",
    "ToolTimeoutError",
    "load_tool_configs",
]
