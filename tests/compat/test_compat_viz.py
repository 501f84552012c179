"""Visualization: ``flow_to_mermaid`` and ``flow_to_dot``."""

from __future__ import annotations

from penguiflow import Node, create, flow_to_dot, flow_to_mermaid


async def step(message, ctx):
    return message


def test_flow_to_dot_draws_endpoints_edges_and_controller_loops() -> None:
    triage, controller = Node(step, name="triage"), Node(step, name="controller", allow_cycle=True)
    flow = create(triage.to(controller), controller.to(controller))
    dot = flow_to_dot(flow, rankdir="LR")
    assert dot.startswith("digraph PenguiFlow {\n    rankdir=LR\n")
    assert "OpenSea -> triage [label=ingress]" in dot
    assert "triage -> controller\n" in dot
    assert "controller -> controller [label=loop]" in dot
    assert "controller -> Rookery [label=egress]" in dot
    assert 'controller [label="controller", style="rounded,filled"]' in dot
    assert dot.rstrip().endswith("}")


def test_flow_to_mermaid_takes_a_direction() -> None:
    flow = create(Node(step, name="a").to(Node(step, name="b")))
    assert flow_to_mermaid(flow, direction="LR").startswith("graph LR\n")
