"""External tools: MCP servers and HTTP APIs as PenguiFlow nodes.

``ToolNode(config)`` connects one server, keeps only the tools its allowlist names, and
returns ``NodeSpec``s for the planner's catalog. The ``mcp`` SDK is imported only when an
MCP server is connected, so ``import penguiflow.tools`` stays light.
"""

from __future__ import annotations

from penguiflow._exports import root_getattr

from ._results import ContentRef, ToolResult
from ._user_tokens import AuthorizationRequired, CallerIdentity, CredentialStore
from .auth import (
    ApiKeyAuth,
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
from .errors import ToolError
from .node import ToolNode
from .oauth import complete_authorization

__all__ = [
    "ApiKeyAuth",
    "AuthorizationRequired",
    "BasicAuth",
    "BearerAuth",
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
    "ToolError",
    "ToolNode",
    "ToolResult",
    "complete_authorization",
    "load_tool_configs",
]

_ERRORS = (
    "AuthorizationStateError",
    "SecretNotFoundError",
    "ToolArgumentsError",
    "ToolAuthError",
    "ToolCircuitOpenError",
    "ToolClientError",
    "ToolConfigError",
    "ToolConnectionError",
    "ToolExecutionError",
    "ToolNodeStateError",
    "ToolNotAllowedError",
    "ToolNotFoundError",
    "ToolRateLimitError",
    "ToolResponseError",
    "ToolServerError",
    "ToolTimeoutError",
)

__getattr__ = root_getattr(
    __name__,
    moved={
        **dict.fromkeys(_ERRORS, "penguiflow.tools.errors"),
        "AuthConfig": "penguiflow.tools.auth",
        "AuthorizationResult": "penguiflow.tools.oauth",
        "BreakerState": "penguiflow.tools._retry",
        "ToolNodeState": "penguiflow.tools.node",
    },
)
