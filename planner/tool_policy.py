"""``ToolPolicy``: which tools a planner, or one run of it, may see and call.

A policy given to ``ReactPlanner(tool_policy=...)`` removes tools from the planner for
good; one given to ``planner.run(..., tool_policy=...)`` narrows that set for the run
only, so one planner can show each tenant its own tools. A hidden tool is absent from
the system prompt, the ``response_format`` schema and the native ``tools`` of the run's
requests, and a call to it is refused like a call to an unknown tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..catalog import NodeSpec

__all__ = ["ToolPolicy"]


class ToolPolicy(BaseModel):
    """Allowed and denied tools, and tags a tool must carry.

    A tool is allowed when it is not in ``denied_tools``, is in ``allowed_tools`` (when
    that is set), carries every tag of ``require_tags``, and none of ``denied_tags``.

    Attributes:
        allowed_tools: the only tools allowed (``None``: every tool).
        denied_tools: tools never allowed (wins over ``allowed_tools``).
        require_tags: tags a tool must all carry (``@tool(tags=[...])``).
        denied_tags: a tool carrying any of these tags is not allowed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_tools: frozenset[str] | None = None
    denied_tools: frozenset[str] = Field(default_factory=frozenset)
    require_tags: frozenset[str] = Field(default_factory=frozenset)
    denied_tags: frozenset[str] = Field(default_factory=frozenset)

    def is_allowed(self, node_name: str, node_tags: Mapping[str, Any] | Iterable[str] = ()) -> bool:
        """Whether the tool ``node_name`` carrying ``node_tags`` is allowed.

        Args:
            node_name: the tool's name.
            node_tags: its tags.
        """
        tags = set(node_tags)
        if node_name in self.denied_tools:
            return False
        if self.allowed_tools is not None and node_name not in self.allowed_tools:
            return False
        if not self.require_tags.issubset(tags):
            return False
        return not (self.denied_tags & tags)

    def filter(self, specs: Sequence[NodeSpec]) -> list[NodeSpec]:
        """The tools of ``specs`` this policy allows, in order."""
        return [spec for spec in specs if self.is_allowed(spec.name, spec.tags)]
