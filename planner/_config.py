"""Checks and normalisation of ``ReactPlanner``'s constructor arguments."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..catalog import NodeSpec, build_catalog
from ..errors import ConfigError
from ..node import Node
from ..registry import ModelRegistry
from .actions import RESERVED_NODE_NAMES
from .prompts import PlanningHints

__all__ = ["check_int", "check_seconds", "make_catalog", "make_client", "make_hints"]


def check_int(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        rule = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ConfigError(f"ReactPlanner({name}=...) must be {rule}, got {value!r}")


def check_seconds(name: str, value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(f"ReactPlanner({name}=...) must be seconds > 0 or None, got {value!r}")


def make_client(llm: Any, llm_client: Any, temperature: float) -> Any:
    if llm is not None and llm_client is not None:
        raise ConfigError(
            "ReactPlanner got both llm=... and llm_client=...; pass one: a LiteLLM model "
            "string (or params dict) as llm, or a client object as llm_client"
        )
    if llm_client is not None:
        if not callable(getattr(llm_client, "complete", None)):
            raise ConfigError(
                f"ReactPlanner(llm_client=...) needs an object with an async complete(...) "
                f"method (see penguiflow.planner.LLMClient), got {type(llm_client).__name__}"
            )
        return llm_client
    if llm is None:
        raise ConfigError(
            "ReactPlanner needs an LLM: llm='openai/gpt-4o-mini' (any LiteLLM model string), "
            "llm={'model': ..., **params}, or llm_client=ScriptedLLM([...]) for tests"
        )
    from .llm import LiteLLMClient  # imported here: it is the one module that uses litellm

    if isinstance(llm, str):
        return LiteLLMClient(llm, temperature=temperature)
    if isinstance(llm, Mapping):
        params = dict(llm)
        model = params.pop("model", None)
        if not isinstance(model, str):
            raise ConfigError(f"ReactPlanner(llm={{...}}) needs a 'model' string, got {model!r}")
        params.setdefault("temperature", temperature)
        return LiteLLMClient(model, **params)
    raise ConfigError(
        f"ReactPlanner(llm=...) must be a model string or a params dict, got {type(llm).__name__}"
    )


def make_catalog(
    nodes: Sequence[Node] | None, registry: ModelRegistry | None, catalog: Sequence[NodeSpec] | None
) -> list[NodeSpec]:
    if catalog is not None and (nodes is not None or registry is not None):
        raise ConfigError(
            "ReactPlanner got catalog=... together with nodes=/registry=; pass either a "
            "catalog, or nodes with their registry"
        )
    if catalog is None:
        if nodes is None:
            raise ConfigError(
                "ReactPlanner needs tools: nodes=[...] with registry=ModelRegistry(), or "
                "catalog=build_catalog(nodes, registry) (catalog=[] for none)"
            )
        if registry is None:
            raise ConfigError(
                "ReactPlanner(nodes=...) needs registry=... holding each node's args and "
                "output models (registry.register(name, ArgsModel, OutModel))"
            )
        catalog = build_catalog(nodes, registry)
    specs = list(catalog)
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, NodeSpec):
            raise ConfigError(
                f"ReactPlanner(catalog=...) takes NodeSpecs, got {type(spec).__name__}"
            )
        if spec.name in RESERVED_NODE_NAMES:
            raise ConfigError(
                f"tool name {spec.name!r} is reserved for an opcode "
                f"({', '.join(sorted(RESERVED_NODE_NAMES))}); rename the node"
            )
        if spec.name in seen:
            raise ConfigError(f"two tools are named {spec.name!r}; tool names must be unique")
        seen.add(spec.name)
    return specs


def make_hints(value: PlanningHints | Mapping[str, Any] | None) -> PlanningHints | None:
    if value is None or isinstance(value, PlanningHints):
        return value
    try:
        return PlanningHints.model_validate(dict(value))
    except (ValidationError, TypeError, ValueError) as exc:
        raise ConfigError(f"ReactPlanner(planning_hints=...) is invalid: {exc}") from exc
