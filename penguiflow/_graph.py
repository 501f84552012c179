"""Building a flow's graph from ``a.to(b, c)`` edges: nodes, successors, cycles, ingress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import ConfigError, CycleError
from .node import Node

__all__ = ["Adjacency", "Graph", "build_graph"]

Adjacency = tuple[Node, Sequence[Node]] | Node
"""What ``create(...)`` takes: ``node.to(*successors)`` results, or lone nodes."""


@dataclass(frozen=True, slots=True)
class Graph:
    """A checked graph.

    Attributes:
        nodes: every node by name, in the order they were first named.
        successors: the names each node sends to, in the order the edges were given.
        ingress: the names of the nodes without predecessors (``emit`` feeds them).
    """

    nodes: dict[str, Node]
    successors: dict[str, tuple[str, ...]]
    ingress: tuple[str, ...]

    def is_egress(self, name: str) -> bool:
        """Whether ``name`` sends its results to Rookery: no successors but itself."""
        return all(target == name for target in self.successors[name])


def build_graph(adjacencies: Iterable[Adjacency], *, allow_cycles: bool) -> Graph:
    """Check ``adjacencies`` and return the graph they describe.

    Raises:
        ConfigError: not a node or edge, two nodes with one name, or no node at all.
        CycleError: a cycle (or an edge to itself) without ``allow_cycles=True``.
    """
    nodes: dict[str, Node] = {}
    edges: dict[str, list[str]] = {}
    for source, targets in _edges_of(adjacencies):
        out = edges.setdefault(_add(nodes, source), [])
        for target in targets:
            name = _add(nodes, target)
            edges.setdefault(name, [])
            if name not in out:
                out.append(name)
    if not nodes:
        raise ConfigError("create(...) needs at least one node")
    for name, out in edges.items():
        if name in out and not (allow_cycles or nodes[name].allow_cycle):
            raise CycleError(
                f"node {name!r} has an edge to itself; pass allow_cycles=True to create(...) "
                "or Node(..., allow_cycle=True) if the loop is intended"
            )
    if not allow_cycles:
        _refuse_cycles(edges)
    entered = {target for name, out in edges.items() for target in out if target != name}
    ingress = tuple(name for name in edges if name not in entered)
    if not ingress:
        raise CycleError("every node has a predecessor: the flow has no entry node")
    return Graph(nodes, {name: tuple(out) for name, out in edges.items()}, ingress)


def _edges_of(adjacencies: Iterable[Adjacency]) -> Iterable[tuple[Node, tuple[Node, ...]]]:
    for adj in adjacencies:
        if isinstance(adj, Node):
            yield adj, ()
        elif isinstance(adj, tuple) and len(adj) == 2:
            yield adj[0], tuple(adj[1])
        else:
            raise ConfigError(f"create(...) takes node.to(...) edges or nodes, got {adj!r}")


def _add(nodes: dict[str, Node], node: Node) -> str:
    if not isinstance(node, Node):
        raise ConfigError(f"create(...) takes nodes and node.to(...) edges, got {node!r}")
    existing = nodes.setdefault(node.name, node)
    if existing is not node:
        raise ConfigError(
            f"two different nodes are named {node.name!r}; give each node a unique name"
        )
    return node.name


def _refuse_cycles(edges: dict[str, list[str]]) -> None:
    """Raise ``CycleError`` naming the nodes on a cycle between different nodes."""
    indegree = dict.fromkeys(edges, 0)
    for name, out in edges.items():
        for target in out:
            if target != name:
                indegree[target] += 1
    ready = [name for name, degree in indegree.items() if degree == 0]
    while ready:
        name = ready.pop()
        for target in edges[name]:
            if target != name:
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
    cyclic = sorted(name for name, degree in indegree.items() if degree > 0)
    if cyclic:
        raise CycleError(
            f"the flow has a cycle through {', '.join(cyclic)}; pass allow_cycles=True "
            "to create(...) if the loop is intended"
        )
