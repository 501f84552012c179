"""Every import path and top-level name of the documented PenguiFlow API resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

TOP_LEVEL = [
    "__version__",
    "configure_logging",
    "ExtraFormatter",
    "StructuredFormatter",
    "Context",
    "CycleError",
    "PenguiFlow",
    "DEFAULT_QUEUE_MAXSIZE",
    "Node",
    "NodePolicy",
    "ModelRegistry",
    "NodeSpec",
    "SideEffect",
    "ToolInputExample",
    "ToolLoadingMode",
    "build_catalog",
    "tool",
    "Middleware",
    "log_flow_events",
    "LatencyCallback",
    "FlowEvent",
    "format_flow_event",
    "FlowError",
    "FlowErrorCode",
    "MessageBus",
    "BusEnvelope",
    "call_playbook",
    "Headers",
    "Message",
    "StreamChunk",
    "PlanStep",
    "Thought",
    "WM",
    "FinalAnswer",
    "map_concurrent",
    "join_k",
    "predicate_router",
    "union_router",
    "DictRoutingPolicy",
    "RoutingPolicy",
    "RoutingRequest",
    "format_sse_event",
    "chunk_to_ws_json",
    "stream_flow",
    "emit_stream_events",
    "flow_to_mermaid",
    "flow_to_dot",
    "create",
    "testkit",
    "StateStore",
    "StoredEvent",
    "RemoteBinding",
    "RemoteTransport",
    "RemoteCallRequest",
    "RemoteCallResult",
    "RemoteStreamEvent",
    "RemoteNode",
    "ReactPlanner",
    "PlannerAction",
    "PlannerFinish",
    "Trajectory",
    "TrajectoryStep",
]

MODULES = {
    "penguiflow.core": [
        "create",
        "PenguiFlow",
        "Context",
        "CycleError",
        "TraceCancelled",
        "call_playbook",
        "DEFAULT_QUEUE_MAXSIZE",
    ],
    "penguiflow.metrics": ["FlowEvent"],
    "penguiflow.node": ["Node", "NodePolicy"],
    "penguiflow.types": [
        "Headers",
        "Message",
        "StreamChunk",
        "PlanStep",
        "Thought",
        "WM",
        "FinalAnswer",
    ],
    "penguiflow.registry": ["ModelRegistry"],
    "penguiflow.catalog": [
        "NodeSpec",
        "SideEffect",
        "ToolInputExample",
        "ToolLoadingMode",
        "build_catalog",
        "tool",
    ],
    "penguiflow.middlewares": ["Middleware", "FlowEvent", "log_flow_events", "LatencyCallback"],
    "penguiflow.patterns": ["map_concurrent", "join_k", "predicate_router", "union_router"],
    "penguiflow.errors": ["FlowError", "FlowErrorCode"],
    "penguiflow.policies": ["DictRoutingPolicy", "RoutingPolicy", "RoutingRequest"],
    "penguiflow.streaming": [
        "format_sse_event",
        "chunk_to_ws_json",
        "stream_flow",
        "emit_stream_events",
    ],
    "penguiflow.viz": ["flow_to_mermaid", "flow_to_dot"],
    "penguiflow.state": ["StateStore", "StoredEvent", "RemoteBinding", "InMemoryStateStore"],
    "penguiflow.state.in_memory": ["InMemoryStateStore"],
}


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_name_imports(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from penguiflow import {name}", namespace)  # the import statement users write
    assert namespace[name] is not None


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in MODULES.items() for n in names]
)
def test_documented_module_path_imports(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_paths_re_export_the_same_objects() -> None:
    import penguiflow
    from penguiflow.core import create
    from penguiflow.metrics import FlowEvent
    from penguiflow.state import InMemoryStateStore
    from penguiflow.state.in_memory import InMemoryStateStore as Store

    assert create is penguiflow.create and FlowEvent is penguiflow.FlowEvent
    assert InMemoryStateStore is Store
    assert penguiflow.Trajectory is importlib.import_module("penguiflow.planner.run_state").RunState
    assert penguiflow.DEFAULT_QUEUE_MAXSIZE == 64
    assert "flow_to_dot" in dir(penguiflow)


def test_the_documented_names_load_only_when_used() -> None:
    code = (
        "import sys, penguiflow\n"
        "heavy = ('penguiflow.planner', 'penguiflow.scaleout', 'litellm', 'sqlalchemy')\n"
        "assert not [m for m in heavy if m in sys.modules]\n"
        "from penguiflow import format_sse_event, flow_to_dot, DictRoutingPolicy\n"
        "assert not [m for m in heavy if m in sys.modules]\n"
        "from penguiflow import RemoteNode, ReactPlanner, Trajectory\n"
        "assert 'penguiflow.scaleout' in sys.modules and 'penguiflow.planner' in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_an_unknown_top_level_name_is_still_an_attribute_error() -> None:
    with pytest.raises(ImportError, match="NoSuchName"):
        exec("from penguiflow import NoSuchName", {})
