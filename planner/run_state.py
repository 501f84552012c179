"""The state of one planner run, and its result.

A run is a serialisable pydantic object (:class:`RunState`), not the locals of a loop:
the planner advances it one step at a time, so a run can be stored (pause), restored in
another process (resume) and inspected at any point. Everything here is JSON-friendly;
what cannot be serialised (``tool_context``, the event callback, the monotonic
deadline) lives beside the state for the duration of one process's work on it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "RUN_STATE_VERSION",
    "BudgetUsage",
    "FinalPayload",
    "FinishReason",
    "LLMUsage",
    "PlannerFinish",
    "RepairCounters",
    "RunState",
    "Trajectory",
    "TrajectoryStep",
]

RUN_STATE_VERSION = 1
"""Bumped when :class:`RunState` changes incompatibly."""

FinishReason = Literal["answer_complete", "no_path", "budget_exhausted"]
StepKind = Literal["tool", "parallel", "unknown_tool", "invalid_args", "rejected"]


@dataclass(slots=True)
class TrajectoryStep:
    """One executed step: the action and what came back.

    A plain dataclass, so that recording a step costs little; it is validated with the
    :class:`RunState` holding it when a stored run is loaded.

    Attributes:
        index: 1-based position in the trajectory.
        kind: ``tool``, ``parallel``, ``unknown_tool``, ``invalid_args`` or ``rejected``
            (a plan refused before running, e.g. a disallowed tool).
        action: the normalised action (``{"next_node", "args", "thought"}``).
        observation: the tool result (JSON), or the branch report of a parallel step.
        error: what went wrong, phrased for the LLM; ``None`` on success.
        latency_ms: how long the tools ran.
        usage: what the LLM calls of the step cost (``calls``, ``prompt_tokens``,
            ``completion_tokens``, ``total_tokens``, ``cost_usd``; repairs included).
        failure: for a tool that failed: ``node``, ``args``, ``error_code`` (the
            exception's type, or the failure code) and ``message``.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    index: int
    kind: StepKind
    action: dict[str, Any]
    observation: Any = None
    error: str | None = None
    latency_ms: float | None = None
    usage: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class LLMUsage:
    """Tokens and cost reported by the LLM client, summed over the run.

    The run's counters are plain dataclasses (validated and dumped with the
    :class:`RunState` holding them): they are updated several times per step.

    Attributes:
        calls: LLM requests made (repairs included).
        prompt_tokens: input tokens reported by the provider.
        completion_tokens: output tokens reported by the provider.
        total_tokens: their sum (as reported, or computed).
        cost_usd: cost reported by the client (``0.0`` when unknown).
        formats: requests per format that reached the provider: ``native`` (tools),
            ``strict`` or ``generic`` (a JSON schema), ``json_object``, ``prompt`` (no
            ``response_format``). A client that sends a weaker format than the planner
            asked for (``LiteLLMClient`` for a model litellm does not know to take
            schemas) is counted under the format it sent.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    formats: dict[str, int] = field(default_factory=dict)

    def add(self, prompt: int, completion: int, total: int, cost: float | None) -> None:
        """Count one LLM call with the usage and cost it reported."""
        self.calls += 1
        if total:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.total_tokens += total
        if cost:
            self.cost_usd += cost

    def to_dict(self) -> dict[str, Any]:
        """Return the counts as a JSON-friendly dict."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "formats": dict(self.formats),
        }

    def mark(self) -> tuple[int, int, int, int, float]:
        """The counts now, to measure what comes after with :meth:`since`."""
        return (
            self.calls,
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens,
            self.cost_usd,
        )

    def since(self, mark: tuple[int, int, int, int, float]) -> dict[str, Any]:
        """What was counted after ``mark``, as a dict like :meth:`to_dict`'s."""
        calls, prompt, completion, total, cost = mark
        return {
            "calls": self.calls - calls,
            "prompt_tokens": self.prompt_tokens - prompt,
            "completion_tokens": self.completion_tokens - completion,
            "total_tokens": self.total_tokens - total,
            "cost_usd": self.cost_usd - cost,
        }


@dataclass(slots=True)
class RepairCounters:
    """How often the model's output needed fixing.

    Attributes:
        local_repairs: replies fixed without an LLM call (step 1 of the ladder).
        fixes: how often each local fix was applied, by name.
        llm_repairs: LLM retries made with the validation error (step 2).
        exhausted: ladders that ran out of retries (step 3).
        unknown_tool: actions naming a tool that does not exist.
        invalid_args: tool calls whose arguments failed validation.
        arg_failure_streak: consecutive argument failures of ``arg_failure_tool``.
        arg_failure_tool: the tool of the current streak.
        format_fallbacks: ``response_format`` modes a provider rejected.
    """

    local_repairs: int = 0
    fixes: dict[str, int] = field(default_factory=dict)
    llm_repairs: int = 0
    exhausted: int = 0
    unknown_tool: int = 0
    invalid_args: int = 0
    arg_failure_streak: int = 0
    arg_failure_tool: str | None = None
    format_fallbacks: int = 0


@dataclass(slots=True)
class BudgetUsage:
    """How much of each budget the run used.

    Attributes:
        iterations: LLM decisions made (``max_iters``).
        hops: tool invocations, parallel branches and joins included (``hop_budget``).
        tokens_last_request: tokens of the latest request, counted with tiktoken when a
            limit applies (``token_budget`` or a known context window; 0 otherwise;
            provider-reported tokens are in ``usage``).
        tokens_sent: tokens of all requests, summed (same condition).
        elapsed_s: seconds of work on the run (``deadline_s``), across processes.
        compactions: times older steps were folded into the summary.
    """

    iterations: int = 0
    hops: int = 0
    tokens_last_request: int = 0
    tokens_sent: int = 0
    elapsed_s: float = 0.0
    compactions: int = 0


def _new_run_id() -> str:
    return uuid.uuid4().hex


class RunState(BaseModel):
    """Everything needed to continue a run, as JSON.

    Attributes:
        version: :data:`RUN_STATE_VERSION` of the writer.
        run_id: unique id of the run.
        tenant_id: the tenant the run (and its tool calls) belong to.
        query: the user's request.
        llm_context: JSON context shown to the LLM with the query.
        steps: the trajectory.
        summary: digest of the steps folded away to fit ``token_budget``.
        compacted: how many leading steps ``summary`` replaces.
        usage: LLM usage so far.
        repairs: repair counters.
        budgets: budget usage.
        errors: notable errors, in order (repairs exhausted, tool failures...).
        created_at: wall-clock creation time.
        extensions: room for plug-ins (pause records, memory) to keep their own JSON.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = RUN_STATE_VERSION
    run_id: str = Field(default_factory=_new_run_id)
    tenant_id: str = "default"
    query: str
    llm_context: Any = None
    steps: list[TrajectoryStep] = Field(default_factory=list)
    summary: str | None = None
    compacted: int = 0
    usage: LLMUsage = Field(default_factory=LLMUsage)
    repairs: RepairCounters = Field(default_factory=RepairCounters)
    budgets: BudgetUsage = Field(default_factory=BudgetUsage)
    errors: list[str] = Field(default_factory=list)
    created_at: float = Field(default_factory=time.time)
    extensions: dict[str, Any] = Field(default_factory=dict)

    def add_step(
        self,
        kind: StepKind,
        action: dict[str, Any],
        observation: Any = None,
        error: str | None = None,
        latency_ms: float | None = None,
        failure: dict[str, Any] | None = None,
    ) -> TrajectoryStep:
        """Append a :class:`TrajectoryStep` (its ``index`` is assigned) and return it."""
        steps = self.steps
        step = TrajectoryStep(
            len(steps) + 1, kind, action, observation, error, latency_ms, failure=failure
        )
        steps.append(step)
        return step

    def to_history(self) -> list[dict[str, Any]]:
        """Return the steps as plain dicts (as in ``PlannerFinish.metadata["steps"]``)."""
        return [
            {
                "index": step.index,
                "kind": step.kind,
                "action": step.action,
                "observation": step.observation,
                "error": step.error,
                "failure": step.failure,
                "latency_ms": step.latency_ms,
                "usage": step.usage,
            }
            for step in self.steps
        ]

    def metadata(self) -> dict[str, Any]:
        """Return the ``PlannerFinish.metadata`` view of the run.

        The steps are plain dicts; their ``action`` and ``observation`` are the run's own
        JSON values, not copies (the view is made when the run finishes or pauses, after
        which this process no longer changes them).
        """
        return {
            "run_id": self.run_id,
            "steps": self.to_history(),
            "step_count": len(self.steps),
            "usage": _USAGE.dump_python(self.usage),
            "repairs": _REPAIRS.dump_python(self.repairs),
            "budgets": _BUDGETS.dump_python(self.budgets),
            "errors": list(self.errors),
        }


Trajectory = RunState
"""The documented name of a run's record: the query, its steps and what they cost."""


class FinalPayload(BaseModel):
    """The answer of a run.

    Attributes:
        raw_answer: the answer text (for ``budget_exhausted`` and ``no_path``: what the
            run learned so far, labelled as partial).
        structured: the validated ``final_response_model`` instance, when one is set.
        sources: references given by the model.
        confidence: the model's self-reported confidence (0..1).
        partial: ``True`` when the run did not complete its answer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    raw_answer: str
    structured: Any = None
    sources: list[Any] | None = None
    confidence: float | None = None
    partial: bool = False

    # Read as a mapping too (``payload["raw_answer"]``, ``payload.get("sources")``), as
    # code written for a dict payload does.

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def get(self, key: str, default: Any = None) -> Any:
        """Return the field ``key``, or ``default`` when there is no such field."""
        return getattr(self, key) if key in type(self).model_fields else default

    def keys(self) -> list[str]:
        """The field names."""
        return list(type(self).model_fields)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of every field."""
        return [(name, getattr(self, name)) for name in type(self).model_fields]

    def values(self) -> list[Any]:
        """The field values."""
        return [getattr(self, name) for name in type(self).model_fields]


class PlannerFinish(BaseModel):
    """How a run ended.

    Attributes:
        reason: ``answer_complete``, ``no_path`` (no valid action could be obtained,
            or the model kept calling a tool with bad arguments) or
            ``budget_exhausted`` (``max_iters``, ``hop_budget``, ``deadline_s`` or
            ``token_budget`` ran out).
        payload: the answer, or the best partial information.
        metadata: ``reason``, ``run_id``, ``steps`` (each with its ``usage`` and, for a
            failed tool, its ``failure``), ``step_count``, ``usage`` (LLM calls, tokens
            and cost of the whole run), ``cost``, ``constraints``, ``answer_action_seq``,
            ``repairs``, ``budgets``, ``errors``, and ``error``/``budget`` on failure.
    """

    reason: FinishReason
    payload: FinalPayload | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


_USAGE = TypeAdapter(LLMUsage)
_REPAIRS = TypeAdapter(RepairCounters)
_BUDGETS = TypeAdapter(BudgetUsage)
