"""``flow_to_mermaid``: draw a flow's graph as a Mermaid diagram."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .flow import PenguiFlow

__all__ = ["flow_to_mermaid"]


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
