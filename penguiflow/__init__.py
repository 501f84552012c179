"""PenguiFlow: LLM agents on a backpressured async runtime.

The runtime lives here (``create``, ``Node``, ``Message``...); the planner, tools, memory
and session store are ``penguiflow.planner``, ``penguiflow.tools``, ``penguiflow.memory``
and ``penguiflow.sessions``. The agent's entry points (``Agent``, ``ReactPlanner``,
``PlannerFinish``, ``PlannerPause``, ``ToolContext``) are importable from here too; they
are loaded from ``penguiflow.planner`` on first access, so ``import penguiflow`` stays
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import testkit
from ._stats import FlowStats, NodeStats
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
    ConfigError,
    CycleError,
    FlowError,
    FlowErrorCode,
    FlowStateError,
    NodeSignatureError,
    PenguiFlowError,
    QueueFullError,
    RunError,
    ToolSignatureError,
    TraceCancelled,
    UnknownTargetError,
    UsageError,
    ValidationFailedError,
)
from .events import FlowEvent
from .flow import FlowState, PenguiFlow, create
from .logs import configure_logging
from .middlewares import log_flow_events
from .node import Node
from .patterns import join_k, map_concurrent, predicate_router, union_router
from .playbook import call_playbook
from .policy import NodePolicy
from .registry import ModelRegistry
from .signals import FlowSignal
from .state import InMemoryStateStore, RemoteBinding, StateStore, StoredEvent
from .types import WM, FinalAnswer, Headers, Message, StreamChunk
from .viz import flow_to_mermaid

if TYPE_CHECKING:
    from .planner import Agent, PlannerFinish, PlannerPause, ReactPlanner, ToolContext

__version__ = "0.1.0"

__all__ = [
    "WM",
    "Agent",
    "BusEnvelope",
    "ConfigError",
    "Context",
    "CycleError",
    "FinalAnswer",
    "FlowError",
    "FlowErrorCode",
    "FlowEvent",
    "FlowSignal",
    "FlowState",
    "FlowStateError",
    "FlowStats",
    "Headers",
    "InMemoryStateStore",
    "Message",
    "MessageBus",
    "Middleware",
    "ModelRegistry",
    "Node",
    "NodePolicy",
    "NodeSignatureError",
    "NodeSpec",
    "NodeStats",
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
    "RunError",
    "StateStore",
    "StoredEvent",
    "StreamChunk",
    "ToolContext",
    "ToolSignatureError",
    "TraceCancelled",
    "UnknownTargetError",
    "UsageError",
    "ValidationFailedError",
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

_FROM_PLANNER = frozenset({"Agent", "PlannerFinish", "PlannerPause", "ReactPlanner", "ToolContext"})


def __getattr__(name: str) -> Any:
    if name not in _FROM_PLANNER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import planner  # loaded on first use: the runtime itself never needs it

    value = getattr(planner, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
