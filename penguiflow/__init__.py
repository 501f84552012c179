"""PenguiFlow: LLM agents on a backpressured async runtime.

The runtime lives here (``create``, ``Node``, ``Message``...); the planner, tools, memory
and session store are ``penguiflow.planner``, ``penguiflow.tools``, ``penguiflow.memory``
and ``penguiflow.sessions``. The agent's entry points (``Agent``, ``ReactPlanner``,
``PlannerFinish``, ``PlannerPause``, ``ToolContext``) are importable from here too; they
are loaded from ``penguiflow.planner`` on first access, so ``import penguiflow`` stays
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import testkit
from ._exports import root_getattr
from ._typing import Middleware
from .bus import (
    BusEnvelope,
    MessageBus,
    RemoteCallRequest,
    RemoteCallResult,
    RemoteStreamEvent,
    RemoteTransport,
)
from .catalog import NodeSpec, build_catalog, tool
from .context import Context
from .errors import (
    CycleError,
    FlowError,
    FlowErrorCode,
    PenguiFlowError,
    QueueFullError,
    TraceCancelled,
)
from .events import FlowEvent
from .flow import PenguiFlow, create
from .logs import configure_logging
from .middlewares import log_flow_events
from .node import Node
from .patterns import join_k, map_concurrent, predicate_router, union_router
from .playbook import call_playbook
from .policy import NodePolicy
from .registry import ModelRegistry
from .state import RemoteBinding, StateStore, StoredEvent
from .types import WM, FinalAnswer, Headers, Message, StreamChunk
from .viz import flow_to_mermaid

if TYPE_CHECKING:
    from .planner import Agent, PlannerFinish, PlannerPause, ReactPlanner, ToolContext

__version__ = "0.1.0"

__all__ = [
    "WM",
    "Agent",
    "BusEnvelope",
    "Context",
    "CycleError",
    "FinalAnswer",
    "FlowError",
    "FlowErrorCode",
    "FlowEvent",
    "Headers",
    "Message",
    "MessageBus",
    "Middleware",
    "ModelRegistry",
    "Node",
    "NodePolicy",
    "NodeSpec",
    "PenguiFlow",
    "PenguiFlowError",
    "PlannerFinish",
    "PlannerPause",
    "QueueFullError",
    "ReactPlanner",
    "RemoteBinding",
    "RemoteCallRequest",
    "RemoteCallResult",
    "RemoteStreamEvent",
    "RemoteTransport",
    "StateStore",
    "StoredEvent",
    "StreamChunk",
    "ToolContext",
    "TraceCancelled",
    "build_catalog",
    "call_playbook",
    "configure_logging",
    "create",
    "flow_to_mermaid",
    "join_k",
    "log_flow_events",
    "map_concurrent",
    "predicate_router",
    "testkit",
    "tool",
    "union_router",
]

# The agent's entry points live in the planner, loaded on first access: the runtime
# itself never needs them.
__getattr__ = root_getattr(
    __name__,
    lazy={
        name: "penguiflow.planner"
        for name in ("Agent", "PlannerFinish", "PlannerPause", "ReactPlanner", "ToolContext")
    },
    moved={
        "ConfigError": "penguiflow.errors",
        "FlowSignal": "penguiflow.signals",
        "FlowState": "penguiflow.flow",
        "FlowStateError": "penguiflow.errors",
        "FlowStats": "penguiflow.flow",
        "InMemoryStateStore": "penguiflow.state.in_memory",
        "NodeSignatureError": "penguiflow.errors",
        "NodeStats": "penguiflow.flow",
        "RunError": "penguiflow.errors",
        "ToolSignatureError": "penguiflow.errors",
        "UnknownTargetError": "penguiflow.errors",
        "UsageError": "penguiflow.errors",
        "ValidationFailedError": "penguiflow.errors",
    },
)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
