"""The planner's action schema: what the LLM returns at each step.

The current shape is one JSON object::

    {"thought": "...", "next_node": "<tool name>", "args": {...}}

with two opcodes in ``next_node``:

* ``"final_response"``: finish; ``args.answer`` holds the answer (plus optional
  ``sources`` and ``confidence``, or the fields of ``final_response_model``).
* ``"parallel"``: run ``args.steps`` (``[{"node", "args"}]``) concurrently, then an
  optional ``args.join`` (``{"node", "args", "inject"}``).

The older shape (``next_node: null`` to finish, ``plan`` and ``join`` at top level,
``plan: null`` / ``join: null`` spelled out next to a tool call) is accepted too, by
:class:`PlannerAction` itself and so by :mod:`penguiflow.planner.parse`, and normalised
to the current one by :func:`normalise_legacy`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "FINAL_RESPONSE",
    "INJECT_SOURCES",
    "PARALLEL",
    "RESERVED_NODE_NAMES",
    "ActionKind",
    "FinalAnswerArgs",
    "ParallelArgs",
    "ParallelCall",
    "ParallelJoin",
    "PlannerAction",
    "normalise_legacy",
]

FINAL_RESPONSE = "final_response"
"""The opcode that ends a run with an answer."""

PARALLEL = "parallel"
"""The opcode that runs several tool calls concurrently."""

RESERVED_NODE_NAMES = frozenset({FINAL_RESPONSE, PARALLEL})
"""Names no tool may use, because they are opcodes."""

INJECT_SOURCES = frozenset(
    {"$results", "$branches", "$failures", "$success_count", "$failure_count"}
)
"""Values a join's ``inject`` mapping may refer to."""

ActionKind = Literal["final", "parallel", "tool"]


class ParallelCall(BaseModel):
    """One branch of a parallel plan.

    Attributes:
        node: the tool to call.
        args: the tool's arguments (validated against its args model before running).
    """

    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class ParallelJoin(BaseModel):
    """The tool that runs after every branch of a parallel plan succeeded.

    Attributes:
        node: the join tool.
        args: its fixed arguments.
        inject: maps a join argument to a branch aggregate: ``$results`` (the branch
            results in order), ``$branches`` (one record per branch), ``$failures``,
            ``$success_count`` or ``$failure_count``.
    """

    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    inject: dict[str, str] = Field(default_factory=dict)

    @field_validator("inject", mode="before")
    @classmethod
    def _accept_legacy_inject(cls, value: Any) -> Any:
        # The older shape wrapped the mapping: {"mapping": {...}}.
        if isinstance(value, dict) and set(value) == {"mapping"}:
            value = value["mapping"]
        return {} if value is None else value

    @field_validator("inject")
    @classmethod
    def _check_sources(cls, value: dict[str, str]) -> dict[str, str]:
        for field_name, source in value.items():
            if source not in INJECT_SOURCES:
                raise ValueError(
                    f"inject[{field_name!r}] must be one of {', '.join(sorted(INJECT_SOURCES))}, "
                    f"got {source!r}"
                )
        return value


class ParallelArgs(BaseModel):
    """``args`` of the ``parallel`` opcode.

    Attributes:
        steps: the branches, run concurrently (at least one).
        join: an optional tool to run on the branch results.
    """

    model_config = ConfigDict(extra="forbid")

    steps: list[ParallelCall] = Field(min_length=1)
    join: ParallelJoin | None = None


class FinalAnswerArgs(BaseModel):
    """``args`` of the ``final_response`` opcode when no ``final_response_model`` is set.

    Attributes:
        answer: the answer shown to the user.
        sources: optional references the answer relies on.
        confidence: optional self-reported confidence between 0 and 1.
    """

    model_config = ConfigDict(extra="ignore")

    answer: str = Field(min_length=1)
    sources: list[Any] | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


def normalise_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """Map an action in the older shape onto the current one (others pass unchanged).

    ``plan: null`` and ``join: null`` are dropped; ``next_node: null`` with a ``plan``
    becomes ``parallel`` (``args.steps``, ``args.join``), and without one the
    ``final_response`` whose ``args.raw_answer`` is read as ``args.answer``.

    Raises:
        ValueError: a plan next to a tool name, which no shape allows.
    """
    if data.get("plan", 0) is None or data.get("join", 0) is None:
        data = {k: v for k, v in data.items() if not (k in ("plan", "join") and v is None)}
    has_plan = "plan" in data or "join" in data
    if "next_node" not in data or data["next_node"] is not None:
        if has_plan:
            raise ValueError(
                "plan/join at top level belong to the older shape where next_node is null; "
                'use {"next_node": "parallel", "args": {"steps": [...], "join": {...}}}'
            )
        return data
    out: dict[str, Any] = {"thought": data.get("thought")}
    if has_plan and data.get("plan") is not None:
        out["next_node"] = PARALLEL
        out["args"] = {"steps": data.get("plan"), "join": data.get("join")}
        return out
    args = data.get("args")
    args = dict(args) if isinstance(args, dict) else {}
    if "answer" not in args and "raw_answer" in args:
        args["answer"] = args.pop("raw_answer")
    out["next_node"] = FINAL_RESPONSE
    out["args"] = args
    return out


class PlannerAction(BaseModel):
    """One decision of the LLM, in the current (normalised) shape.

    Attributes:
        thought: the model's optional reasoning (kept in the trajectory).
        next_node: a tool name, ``"final_response"`` or ``"parallel"``.
        args: the tool's arguments, or the opcode's arguments.
    """

    model_config = ConfigDict(extra="forbid")

    thought: str | None = None
    next_node: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _accept_legacy(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = normalise_legacy(data)
        if data.get("args", 0) is None:
            data = {**data, "args": {}}
        return data

    @property
    def kind(self) -> ActionKind:
        """``"final"``, ``"parallel"`` or ``"tool"``."""
        if self.next_node == FINAL_RESPONSE:
            return "final"
        if self.next_node == PARALLEL:
            return "parallel"
        return "tool"

    def record(self) -> dict[str, Any]:
        """Return the action as a JSON-friendly dict (``thought`` left out when ``None``)."""
        if self.thought is None:
            return {"next_node": self.next_node, "args": self.args}
        return {"thought": self.thought, "next_node": self.next_node, "args": self.args}

    def parallel_args(self) -> ParallelArgs:
        """Return the validated ``args`` of a ``parallel`` action.

        Raises:
            pydantic.ValidationError: the steps or join are malformed.
        """
        return ParallelArgs.model_validate(self.args)
