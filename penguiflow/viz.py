"""Drawing a flow's graph: ``flow_to_mermaid`` (Mermaid) and ``flow_to_dot`` (Graphviz)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .flow import PenguiFlow

__all__ = ["flow_to_dot", "flow_to_mermaid"]


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)


def flow_to_mermaid(flow: PenguiFlow, direction: str = "TD") -> str:
    """Return a Mermaid ``graph`` of ``flow`` with OpenSea (ingress) and Rookery (egress)."""
    lines = [f"graph {direction}", "    OpenSea([OpenSea])", "    Rookery([Rookery])"]
    for node in flow.nodes:
        lines.append(f'    {_ident(node.name)}["{node.name}"]')
    for node in flow.ingress_nodes:
        lines.append(f"    OpenSea --> {_ident(node.name)}")
    for node in flow.nodes:
        successors = flow.successors(node)
        for succ in successors:
            lines.append(f"    {_ident(node.name)} --> {_ident(succ.name)}")
        if all(s.name == node.name for s in successors):
            lines.append(f"    {_ident(node.name)} --> Rookery")
    return "\n".join(lines) + "\n"


def flow_to_dot(flow: PenguiFlow, *, rankdir: str = "TB") -> str:
    """Return a Graphviz ``digraph`` of ``flow``.

    OpenSea and Rookery are drawn as ovals; a controller loop (a node with an edge to
    itself) is filled, and its edge is labelled ``loop``; the edges from OpenSea and to
    Rookery are labelled ``ingress`` and ``egress``.

    Args:
        flow: the flow (running or not).
        rankdir: the layout direction (``TB``, ``LR``...).
    """
    lines = [
        "digraph PenguiFlow {",
        f"    rankdir={rankdir}",
        "    node [shape=box, style=rounded]",
        '    OpenSea [label="OpenSea", shape=oval]',
        '    Rookery [label="Rookery", shape=oval]',
    ]
    edges: list[str] = [
        f"    OpenSea -> {_ident(n.name)} [label=ingress]" for n in flow.ingress_nodes
    ]
    for node in flow.nodes:
        ident = _ident(node.name)
        successors = flow.successors(node)
        looping = any(s.name == node.name for s in successors)
        style = ', style="rounded,filled"' if looping else ""
        lines.append(f'    {ident} [label="{_quoted(node.name)}"{style}]')
        for succ in successors:
            label = " [label=loop]" if succ.name == node.name else ""
            edges.append(f"    {ident} -> {_ident(succ.name)}{label}")
        if all(s.name == node.name for s in successors):
            edges.append(f"    {ident} -> Rookery [label=egress]")
    return "\n".join([*lines, *edges, "}"]) + "\n"


def _quoted(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"')
