"""``penguiflow.planner``: the Agent, the ReactPlanner, its action schema, LLM clients and events.

``LiteLLMClient`` (and ``allow_model_requests``) and the offline clients of
:mod:`penguiflow.planner.testing` are imported on first use, so ``import
penguiflow.planner`` never imports litellm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from penguiflow._exports import root_getattr

from ._executor import ToolContext
from .actions import PlannerAction
from .agent import Agent
from .errors import LLMError
from .events import PlannerEvent
from .llm_types import LLMClient, LLMResponse, ToolCall
from .pause import PlannerPause
from .prompts import PlanningHints
from .react import ReactPlanner, ToolMode
from .reflection import ReflectionConfig
from .run_state import PlannerFinish, TrajectoryStep
from .tool_policy import ToolPolicy

if TYPE_CHECKING:
    from .llm import LiteLLMClient, allow_model_requests
    from .testing import FunctionLLM, ScriptedLLM, TestLLM, tool_reply

__all__ = [
    "Agent",
    "FunctionLLM",
    "LLMClient",
    "LLMError",
    "LLMResponse",
    "LiteLLMClient",
    "PlannerAction",
    "PlannerEvent",
    "PlannerFinish",
    "PlannerPause",
    "PlanningHints",
    "ReactPlanner",
    "ReflectionConfig",
    "ScriptedLLM",
    "TestLLM",
    "ToolCall",
    "ToolContext",
    "ToolMode",
    "ToolPolicy",
    "TrajectoryStep",
    "allow_model_requests",
    "tool_reply",
]

_ERRORS = (
    "AgentStateError",
    "LLMAuthError",
    "LLMBadRequestError",
    "LLMContentFilterError",
    "LLMContextWindowError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMResponseFormatError",
    "LLMTimeoutError",
    "LLMToolCallingError",
    "LLMUnavailableError",
    "ModelRequestsBlockedError",
    "PauseCommitError",
    "PlannerClosedError",
    "ResumeDecisionError",
    "RunStateError",
    "ScriptExhaustedError",
    "StateStoreRequiredError",
)

__getattr__ = root_getattr(
    __name__,
    lazy={
        "LiteLLMClient": "penguiflow.planner.llm",
        "allow_model_requests": "penguiflow.planner.llm",
        "FunctionLLM": "penguiflow.planner.testing",
        "ScriptedLLM": "penguiflow.planner.testing",
        "TestLLM": "penguiflow.planner.testing",
        "tool_reply": "penguiflow.planner.testing",
    },
    moved={
        **dict.fromkeys(_ERRORS, "penguiflow.planner.errors"),
        "FinalAnswerArgs": "penguiflow.planner.actions",
        "ParallelArgs": "penguiflow.planner.actions",
        "ParallelCall": "penguiflow.planner.actions",
        "ParallelJoin": "penguiflow.planner.actions",
        "FinalPayload": "penguiflow.planner.run_state",
        "LLMUsage": "penguiflow.planner.run_state",
        "RunState": "penguiflow.planner.run_state",
        "LLMRequest": "penguiflow.planner.llm_types",
        "StreamCallback": "penguiflow.planner.llm_types",
        "Usage": "penguiflow.planner.llm_types",
        "PendingCall": "penguiflow.planner.pause",
        "RecoveredRun": "penguiflow.planner.react",
        "Trajectory": "penguiflow.planner.react",
        "PlannerEventCallback": "penguiflow.planner.react",
        "ReflectionCritique": "penguiflow.planner.reflection",
        "ReflectionCriteria": "penguiflow.planner.reflection",
        "TokenCounter": "penguiflow.planner.tokens",
    },
)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
