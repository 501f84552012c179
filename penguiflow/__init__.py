"""PenguiFlow: LLM agents on a backpressured async runtime.

The runtime lives here (``create``, ``Node``, ``Message``...); the planner, tools, memory
and session store are ``penguiflow.planner``, ``penguiflow.tools``, ``penguiflow.memory``
and ``penguiflow.sessions``. The agent's entry points (``Agent``, ``ReactPlanner``,
``PlannerFinish``, ``PlannerPause``, ``ToolContext``) are importable from here too; they
are loaded from ``penguiflow.planner`` on first access, so ``import penguiflow`` stays
light.

The other top-level names of the documented PenguiFlow API (``DEFAULT_QUEUE_MAXSIZE``,
``format_sse_event``, ``RemoteNode``, ``Trajectory``...) resolve here as well, loaded on
first access from the module that defines them; ``__all__`` lists what these docs teach.
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
    from .catalog import SideEffect as SideEffect
    from .catalog import ToolInputExample as ToolInputExample
    from .catalog import ToolLoadingMode as ToolLoadingMode
    from .events import format_flow_event as format_flow_event
    from .flow import DEFAULT_QUEUE_MAXSIZE as DEFAULT_QUEUE_MAXSIZE
    from .logs import ExtraFormatter as ExtraFormatter
    from .logs import StructuredFormatter as StructuredFormatter
    from .middlewares import LatencyCallback as LatencyCallback
    from .planner import Agent, PlannerFinish, PlannerPause, ReactPlanner, ToolContext
    from .planner import PlannerAction as PlannerAction
    from .planner import TrajectoryStep as TrajectoryStep
    from .planner.run_state import Trajectory as Trajectory
    from .policies import DictRoutingPolicy as DictRoutingPolicy
    from .policies import RoutingPolicy as RoutingPolicy
    from .policies import RoutingRequest as RoutingRequest
    from .scaleout.remote import RemoteNode as RemoteNode
    from .streaming import chunk_to_ws_json as chunk_to_ws_json
    from .streaming import emit_stream_events as emit_stream_events
    from .streaming import format_sse_event as format_sse_event
    from .streaming import stream_flow as stream_flow
    from .types import PlanStep as PlanStep
    from .types import Thought as Thought
    from .viz import flow_to_dot as flow_to_dot

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
_PLANNER = ("Agent", "PlannerFinish", "PlannerPause", "ReactPlanner", "ToolContext")

# The rest of the documented PenguiFlow API's top level, by defining module. The planner's
# and scale-out's names stay out of `import penguiflow` (tests/test_layout.py).
_DOCUMENTED = {
    "DEFAULT_QUEUE_MAXSIZE": "penguiflow.flow",
    "DictRoutingPolicy": "penguiflow.policies",
    "ExtraFormatter": "penguiflow.logs",
    "LatencyCallback": "penguiflow.middlewares",
    "PlanStep": "penguiflow.types",
    "PlannerAction": "penguiflow.planner",
    "RemoteNode": "penguiflow.scaleout.remote",
    "RoutingPolicy": "penguiflow.policies",
    "RoutingRequest": "penguiflow.policies",
    "SideEffect": "penguiflow.catalog",
    "StructuredFormatter": "penguiflow.logs",
    "Thought": "penguiflow.types",
    "ToolInputExample": "penguiflow.catalog",
    "ToolLoadingMode": "penguiflow.catalog",
    "Trajectory": "penguiflow.planner.run_state",
    "TrajectoryStep": "penguiflow.planner",
    "chunk_to_ws_json": "penguiflow.streaming",
    "emit_stream_events": "penguiflow.streaming",
    "flow_to_dot": "penguiflow.viz",
    "format_flow_event": "penguiflow.events",
    "format_sse_event": "penguiflow.streaming",
    "stream_flow": "penguiflow.streaming",
}

__getattr__ = root_getattr(
    __name__,
    lazy={**dict.fromkeys(_PLANNER, "penguiflow.planner"), **_DOCUMENTED},
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
    return sorted(set(globals()) | set(__all__) | set(_DOCUMENTED))
