"""Internal records shared by the MCP and HTTP adapters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._results import ToolResult
from .config import HttpOperation

if TYPE_CHECKING:
    from ._user_tokens import CallerIdentity

__all__ = ["Backend", "ToolDef", "fingerprint"]


def fingerprint(name: str, description: str, schema: dict[str, Any]) -> str:
    """Return a stable hash of a tool's definition (name, description, input schema)."""
    canonical = json.dumps(
        {"name": name, "description": description, "schema": schema},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One tool as a server describes it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False
    operation: HttpOperation | None = None

    @property
    def fingerprint(self) -> str:
        """Hash of the definition; changes when the description or schema changes."""
        return fingerprint(self.name, self.description, self.input_schema)


class Backend(Protocol):
    """What ``ToolNode`` needs from an MCP or HTTP adapter."""

    @property
    def offered(self) -> list[str]:
        """The names of every tool the server offers, allowed or not (after :meth:`open`)."""
        ...

    async def open(self) -> list[ToolDef]:
        """Connect and return the server's tools."""
        ...

    async def call(
        self, tool: ToolDef, arguments: dict[str, Any], caller: CallerIdentity | None = None
    ) -> ToolResult:
        """Make one attempt for ``caller``; raise a classified ``ToolError`` on failure."""
        ...

    async def close(self) -> None:
        """Release everything; safe to call twice."""
        ...
