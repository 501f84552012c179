"""External tools: MCP servers and HTTP APIs as PenguiFlow nodes.

``ToolNode(config)`` connects one server, keeps only the tools its allowlist names, and
returns ``NodeSpec``s for the planner's catalog. The ``mcp`` SDK is imported only when an
MCP server is connected, so ``import penguiflow.tools`` stays light.
"""

from __future__ import annotations

from ._results import ContentRef, ToolResult
from ._retry import BreakerState
from ._user_tokens import AuthorizationRequired, CallerIdentity, CredentialStore
from .auth import (
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentials,
    OAuth2User,
)
from .config import (
    CircuitBreakerConfig,
    ExternalToolConfig,
    HttpOperation,
    RetryConfig,
    load_tool_configs,
)
from .errors import (
    AuthorizationStateError,
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
from .oauth import AuthorizationResult, complete_authorization

__all__ = [
    "ApiKeyAuth",
    "AuthConfig",
    "AuthorizationRequired",
    "AuthorizationResult",
    "AuthorizationStateError",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "CallerIdentity",
    "CircuitBreakerConfig",
    "ContentRef",
    "CredentialStore",
    "ExternalToolConfig",
    "HttpOperation",
    "NoAuth",
    "OAuth2ClientCredentials",
    "OAuth2User",
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
    "complete_authorization",
    "load_tool_configs",
]
