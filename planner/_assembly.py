"""Building a planner's parts: the options every tool view shares, and the views.

``ReactPlanner`` checks its arguments, then builds its shared parts (client, token
accountant, executor, store, guardrails, reflection) and hands them, with the options,
to :func:`build_view`, which builds what depends on the tools: schemas, request modes,
the decider, the step runner and the step loop.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..catalog import NodeSpec
from ._answers import final_payload
from ._asking import Asker
from ._bounded_json import ReplyLimits
from ._deciding import Decider
from ._executor import ToolExecutor
from ._guarding import Guard
from ._hitl import HitlStore
from ._loop import StepLoop
from ._modes import RequestModes, ToolMode
from ._reflecting import Reflector
from ._steps import StepRunner
from ._views import ToolView
from .actions import FINAL_RESPONSE, PARALLEL, FinalAnswerArgs
from .llm_types import LLMClient, complete_keywords
from .prompts import PlanningHints
from .reflection import ReflectionConfig
from .schema import StringBounds, build_action_schemas
from .tokens import TokenAccountant

__all__ = ["Parts", "build_view", "make_reflector"]


@dataclass(frozen=True, slots=True)
class Parts:
    """The options and shared parts every view of one planner is built from."""

    client: LLMClient
    model_key: str
    tokens: TokenAccountant
    executor: ToolExecutor
    hitl: HitlStore
    guard: Guard | None
    reflector: Reflector | None
    hints: PlanningHints | None
    tool_mode: ToolMode
    json_schema_mode: bool
    final_model: type[BaseModel] | None
    bounds: StringBounds
    tool_choice: str | None
    limits: ReplyLimits
    max_parallel: int
    max_branches: int
    system_prompt_extra: str | None
    stream: bool
    repair_attempts: int
    hop_budget: int | None
    max_arg_failures: int
    max_iters: int
    deadline_s: float | None


def final_schema(final_model: type[BaseModel] | None) -> dict[str, Any]:
    """The JSON schema of a final answer's arguments."""
    return (final_model or FinalAnswerArgs).model_json_schema()


def make_reflector(
    config: ReflectionConfig | None,
    *,
    client: LLMClient,
    critic: LLMClient | None,
    final_model: type[BaseModel] | None,
) -> Reflector | None:
    """The planner's reflector, when reflection is configured."""
    if config is None:
        return None
    schema = final_schema(final_model)
    return Reflector(
        config,
        critic=critic or client,
        reviser=client,
        final_schema=schema,
        check_final=functools.partial(final_payload, model=final_model, schema=schema),
    )


def build_view(parts: Parts, specs: Sequence[NodeSpec], shared: RequestModes | None) -> ToolView:
    """Build the parts that depend on which tools are visible.

    Args:
        parts: the planner's options and shared parts.
        specs: the visible tools.
        shared: the main view's request modes (``None`` when building the main view).
    """
    specs = tuple(specs)
    names = tuple(spec.name for spec in specs)
    schemas = build_action_schemas(
        specs, final_response_model=parts.final_model, bounds=parts.bounds
    )
    choice = parts.tool_choice
    if shared is not None and choice not in (None, "required", *names):
        choice = None  # the forced tool is not among this run's tools
    modes = RequestModes(
        client=parts.client,
        tool_mode=parts.tool_mode,
        json_schema_mode=parts.json_schema_mode,
        specs=specs,
        schemas=schemas,
        final_response_model=parts.final_model,
        max_parallel=parts.max_parallel,
        hints=parts.hints,
        extra=parts.system_prompt_extra,
        tokens=parts.tokens,
        tool_choice=choice,
        shared=shared,
    )
    asker = Asker(
        client=parts.client,
        formats=modes.formats,
        schemas=schemas,
        tools=modes.tools,
        tool_choice=modes.tool_choice,
        model_key=parts.model_key,
        stream=parts.stream,
        forced_choice=modes.forced_choice,
        keywords=complete_keywords(parts.client),
    )
    decider = Decider(
        asker=asker,
        dialects=modes.dialects,
        names=modes.names,
        tokens=parts.tokens,
        format_cost=modes.cost,
        known=frozenset([*names, FINAL_RESPONSE, PARALLEL]),
        tool_names=list(names),
        has_tools=bool(specs),
        final_model=parts.final_model,
        final_schema=final_schema(parts.final_model),
        repair_attempts=parts.repair_attempts,
        limits=parts.limits,
    )
    steps = StepRunner(
        specs,
        parts.executor,
        hop_budget=parts.hop_budget,
        hints=parts.hints,
        max_arg_failures=parts.max_arg_failures,
        max_branches=parts.max_branches,
        guard=parts.guard,
    )
    loop = StepLoop(
        decider,
        steps,
        parts.hitl,
        max_iters=parts.max_iters,
        deadline_s=parts.deadline_s,
        guard=parts.guard,
        reflector=parts.reflector,
    )
    return ToolView(specs, names, modes, decider, steps, loop)
