"""The tools page and the flow graph: each tool, where it comes from, and who may call it.

The planner runs its tools as nodes of one runtime flow: every tool node takes calls
from the flow's ingress (OpenSea) and hands results to its egress (Rookery), with its own
timeout, retries and bounded queue. :func:`flow_graph` draws that flow with the planner
in front of it, as nodes and edges (the page draws them as SVG) and as Mermaid text.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from ...catalog import NodeSpec
from ...errors import PenguiFlowError
from ...flow import create
from ...tools._masking import SecretMasker
from ...viz import flow_to_mermaid
from ._project import describe_entry

__all__ = ["flow_graph", "tool_catalog"]


def _approval(spec: NodeSpec) -> dict[str, Any]:
    rule = spec.requires_approval
    if rule is True:
        return {"rule": "always", "label": "asks a human before every call"}
    if rule is False:
        return {"rule": "never", "label": "runs without asking"}
    name = getattr(rule, "__name__", type(rule).__name__)
    return {"rule": "conditional", "label": f"asks when {name}(args) is true"}


def _policy(spec: NodeSpec) -> dict[str, Any]:
    policy = spec.node.policy
    return {
        "timeout_s": getattr(policy, "timeout_s", None),
        "max_retries": getattr(policy, "max_retries", None),
    }


def _entry_for(spec: NodeSpec, entries: Sequence[Any]) -> Any:
    server = spec.extra.get("server")
    for entry in entries:
        if server is not None and getattr(entry, "name", None) == server:
            return entry
    return None


def _origin(spec: NodeSpec, entry: Any, masker: SecretMasker) -> dict[str, Any]:
    if entry is not None:
        origin = dict(describe_entry(entry))
        if isinstance(origin.get("source"), str):
            origin["source"] = masker.text(origin["source"])
        return origin
    func = getattr(spec.node, "func", None)
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", spec.name)
    return {"kind": "python", "source": f"{module}:{qualname}" if module else qualname}


def _access(spec: NodeSpec, entry: Any) -> dict[str, Any] | None:
    if entry is None:
        return None
    tool = str(spec.extra.get("tool", spec.name))
    patterns = list(getattr(entry, "require_approval", ()))
    return {
        "allow": list(getattr(entry, "allow", ())),
        "deny": list(getattr(entry, "deny", ())),
        "require_approval": patterns,
        "matched_by": [p for p in getattr(entry, "allow", ()) if fnmatch.fnmatchcase(tool, p)],
    }


def tool_catalog(
    catalog: Sequence[NodeSpec], entries: Sequence[Any], masker: SecretMasker
) -> list[dict[str, Any]]:
    """Every tool with its schemas, origin, allowlist and approval rule."""
    tools = []
    for spec in catalog:
        entry = _entry_for(spec, entries)
        extra: Mapping[str, Any] = spec.extra
        tools.append(
            {
                "name": spec.name,
                "desc": spec.desc,
                "side_effects": spec.side_effects,
                "tags": list(spec.tags),
                "args_schema": spec.args_schema,
                "out_schema": spec.out_schema,
                "origin": _origin(spec, entry, masker),
                "access": _access(spec, entry),
                "approval": _approval(spec),
                "policy": _policy(spec),
                "definition_changed": bool(extra.get("definition_changed")),
            }
        )
    return tools


def flow_graph(catalog: Sequence[NodeSpec]) -> dict[str, Any]:
    """The planner and its tool flow as ``{"nodes", "edges", "mermaid"}``."""
    nodes: list[dict[str, Any]] = [
        {"id": "planner", "label": "ReactPlanner (LLM)", "kind": "planner"},
        {"id": "OpenSea", "label": "OpenSea", "kind": "ingress"},
    ]
    edges: list[dict[str, str]] = [{"from": "planner", "to": "OpenSea", "label": "tool calls"}]
    for spec in catalog:
        nodes.append({"id": spec.name, "label": spec.name, "kind": "tool", "policy": _policy(spec)})
        edges.append({"from": "OpenSea", "to": spec.name, "label": ""})
        edges.append({"from": spec.name, "to": "Rookery", "label": ""})
    nodes.append({"id": "Rookery", "label": "Rookery", "kind": "egress"})
    edges.append({"from": "Rookery", "to": "planner", "label": "results"})
    try:
        mermaid = flow_to_mermaid(create(*(spec.node.to() for spec in catalog)))
    except PenguiFlowError:  # a node that cannot be drawn alone; the JSON graph stays
        mermaid = None
    return {"nodes": nodes, "edges": edges, "mermaid": mermaid}
