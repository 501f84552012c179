"""``penguiflow.planner``: the Agent, the ReactPlanner, its action schema, LLM clients and events.

``LiteLLMClient`` (and ``allow_model_requests``) and the offline clients of
:mod:`penguiflow.planner.testing` are imported on first use, so ``import
penguiflow.planner`` never imports litellm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._executor import ToolContext
from ._recovery import RecoveredRun
from .actions import FinalAnswerArgs, ParallelArgs, ParallelCall, ParallelJoin, PlannerAction
from .agent import Agent
from .errors import (
    AgentStateError,
    LLMAuthError,
    LLMBadRequestError,
    LLMContentFilterError,
    LLMContextWindowError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMResponseFormatError,
    LLMTimeoutError,
    LLMToolCallingError,
    LLMUnavailableError,
    ModelRequestsBlockedError,
    PauseCommitError,
    PlannerClosedError,
    ResumeDecisionError,
    RunStateError,
    ScriptExhaustedError,
    StateStoreRequiredError,
)
from .events import PlannerEvent
from .llm_types import LLMClient, LLMRequest, LLMResponse, StreamCallback, ToolCall, Usage
from .pause import PendingCall, PlannerPause
from .prompts import PlanningHints
from .react import ReactPlanner, ToolMode
from .run_state import FinalPayload, LLMUsage, PlannerFinish, RunState, TrajectoryStep
from .tokens import TokenCounter

if TYPE_CHECKING:
    from .llm import LiteLLMClient, allow_model_requests
    from .testing import FunctionLLM, ScriptedLLM, TestLLM, tool_reply

__all__ = [
    "Agent",
    "AgentStateError",
    "FinalAnswerArgs",
    "FinalPayload",
    "FunctionLLM",
    "LLMAuthError",
    "LLMBadRequestError",
    "LLMClient",
    "LLMContentFilterError",
    "LLMContextWindowError",
    "LLMError",
    "LLMRateLimitError",
    "LLMRequest",
    "LLMResponse",
    "LLMResponseError",
    "LLMResponseFormatError",
    "LLMTimeoutError",
    "LLMToolCallingError",
    "LLMUnavailableError",
    "LLMUsage",
    "LiteLLMClient",
    "ModelRequestsBlockedError",
    "ParallelArgs",
    "ParallelCall",
    "ParallelJoin",
    "PauseCommitError",
    "PendingCall",
    "PlannerAction",
    "PlannerClosedError",
    "PlannerEvent",
    "PlannerFinish",
    "PlannerPause",
    "PlanningHints",
    "ReactPlanner",
    "RecoveredRun",
    "ResumeDecisionError",
    "RunState",
    "RunStateError",
    "ScriptExhaustedError",
    "ScriptedLLM",
    "StateStoreRequiredError",
    "StreamCallback",
    "TestLLM",
    "TokenCounter",
    "ToolCall",
    "ToolContext",
    "ToolMode",
    "TrajectoryStep",
    "Usage",
    "allow_model_requests",
    "tool_reply",
]

_LAZY = {
    "LiteLLMClient": ".llm",
    "allow_model_requests": ".llm",
    "FunctionLLM": ".testing",
    "ScriptedLLM": ".testing",
    "TestLLM": ".testing",
    "tool_reply": ".testing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
