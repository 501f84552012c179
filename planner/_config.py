"""Checks and normalisation of ``ReactPlanner``'s constructor arguments."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec, build_catalog
from ..errors import ConfigError
from ..node import Node
from ..registry import ModelRegistry
from ._bounded_json import MAX_REPLY_DEPTH_LIMIT
from .actions import RESERVED_NODE_NAMES
from .guardrails import GuardrailGateway
from .prompts import PlanningHints
from .reflection import ReflectionConfig
from .tool_policy import ToolPolicy

__all__ = [
    "check_extras",
    "check_int",
    "check_options",
    "check_run_args",
    "check_seconds",
    "make_catalog",
    "make_client",
    "make_hints",
]


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


def check_options(
    *,
    max_iters: Any,
    hop_budget: Any,
    deadline_s: Any,
    token_budget: Any,
    repair_attempts: Any,
    max_parallel: Any,
    max_consecutive_arg_failures: Any,
    max_string_length: Any,
    max_thought_length: Any,
    max_reply_chars: Any,
    max_reply_depth: Any,
    pause_ttl_s: Any,
    resume_lease_s: Any,
    run_lease_s: Any,
    temperature: Any,
    final_response_model: Any,
    event_callback: Any,
) -> None:
    """Check the scalar options of ``ReactPlanner``.

    Raises:
        ConfigError: a value of the wrong type or out of range, named with the fix.
    """
    check_int("max_iters", max_iters, 1)
    check_int("hop_budget", hop_budget, 0, optional=True)
    check_seconds("deadline_s", deadline_s)
    check_int("token_budget", token_budget, 1, optional=True)
    check_int("repair_attempts", repair_attempts, 0)
    check_int("max_parallel", max_parallel, 1)
    check_int("max_consecutive_arg_failures", max_consecutive_arg_failures, 1)
    check_int("max_string_length", max_string_length, 1, optional=True)
    check_int("max_thought_length", max_thought_length, 1, optional=True)
    check_int("max_reply_chars", max_reply_chars, 1)
    check_int("max_reply_depth", max_reply_depth, 2)
    if max_reply_depth > MAX_REPLY_DEPTH_LIMIT:
        raise ConfigError(
            f"ReactPlanner(max_reply_depth=...) must be at most {MAX_REPLY_DEPTH_LIMIT} "
            f"(deeper values cannot be written back into prompts and stored runs), "
            f"got {max_reply_depth!r}"
        )
    check_seconds("pause_ttl_s", pause_ttl_s)
    for name, lease in (("resume_lease_s", resume_lease_s), ("run_lease_s", run_lease_s)):
        check_seconds(name, lease)
        if lease is None:
            raise ConfigError(f"ReactPlanner({name}=...) must be seconds > 0, got None")
    if not isinstance(temperature, int | float) or not 0.0 <= temperature <= 2.0:
        raise ConfigError(f"ReactPlanner(temperature=...) must be in [0, 2], got {temperature!r}")
    if final_response_model is not None and not (
        isinstance(final_response_model, type) and issubclass(final_response_model, BaseModel)
    ):
        raise ConfigError(
            "ReactPlanner(final_response_model=...) must be a pydantic BaseModel subclass, "
            f"got {final_response_model!r}"
        )
    if event_callback is not None and not callable(event_callback):
        raise ConfigError("ReactPlanner(event_callback=...) must be callable or None")


def check_extras(
    *,
    tool_policy: Any,
    reflection_config: Any,
    reflection_llm: Any,
    guardrail_gateway: Any,
    time_source: Any,
    name: Any,
    telemetry: Any,
) -> None:
    """Check the policy, reflection, guardrail, clock and telemetry options of ``ReactPlanner``.

    Raises:
        ConfigError: a value of the wrong type, or ``use_separate_llm`` without
            ``reflection_llm``.
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"ReactPlanner(name=...) must be a non-empty string, got {name!r}")
    if telemetry is not None and not hasattr(telemetry, "planner"):
        raise ConfigError(
            "ReactPlanner(telemetry=...) takes a penguiflow.telemetry.Telemetry, got "
            f"{type(telemetry).__name__}"
        )
    expected = (
        ("tool_policy", tool_policy, ToolPolicy),
        ("reflection_config", reflection_config, ReflectionConfig),
        ("guardrail_gateway", guardrail_gateway, GuardrailGateway),
    )
    for name, value, kind in expected:
        if value is not None and not isinstance(value, kind):
            raise ConfigError(
                f"ReactPlanner({name}=...) must be a {kind.__name__} or None, "
                f"got {type(value).__name__}"
            )
    if time_source is not None and not callable(time_source):
        raise ConfigError("ReactPlanner(time_source=...) must be a callable returning seconds")
    if reflection_config is not None and reflection_config.use_separate_llm:
        if reflection_llm is None:
            raise ConfigError(
                "ReflectionConfig(use_separate_llm=True) needs ReactPlanner(reflection_llm=...): "
                "a model string, a params dict or a client object"
            )
    elif reflection_llm is not None:
        raise ConfigError(
            "ReactPlanner(reflection_llm=...) is used only with "
            "reflection_config=ReflectionConfig(enabled=True, use_separate_llm=True)"
        )


def make_client(
    llm: Any,
    llm_client: Any,
    temperature: float,
    retries: Mapping[str, Any] | None = None,
    *,
    what: str = "llm",
) -> Any:
    """Return the LLM client: ``llm_client`` itself, or a ``LiteLLMClient`` built from ``llm``.

    ``llm`` may also be a client object when ``what`` names a secondary client
    (``reflection_llm``). ``retries`` (``timeout_s``, ``max_retries``; ``None`` values
    are left out) configure a ``LiteLLMClient`` built here.
    """
    if what != "llm" and callable(getattr(llm, "complete", None)):
        return llm
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

    options = {k: v for k, v in (retries or {}).items() if v is not None}
    if isinstance(llm, str):
        return LiteLLMClient(llm, temperature=temperature, **options)
    if isinstance(llm, Mapping):
        params = {**options, **dict(llm)}
        model = params.pop("model", None)
        if not isinstance(model, str):
            raise ConfigError(f"ReactPlanner({what}={{...}}) needs a 'model' string, got {model!r}")
        params.setdefault("temperature", temperature)
        return LiteLLMClient(model, **params)
    raise ConfigError(
        f"ReactPlanner({what}=...) must be a model string or a params dict, got "
        f"{type(llm).__name__}"
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


def check_run_args(query: Any, llm_context: Any, context_meta: Any) -> Any:
    """Check ``planner.run``'s query and context; return the ``llm_context`` to use.

    ``context_meta`` is the old name of ``llm_context``: it is used, with a
    ``DeprecationWarning``, when ``llm_context`` is not given.

    Raises:
        ConfigError: ``query`` is empty, both context names are given, or the context is
            not JSON-serialisable.
    """
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"planner.run(query=...) needs a non-empty string, got {query!r}")
    if context_meta is not None:
        if llm_context is not None:
            raise ConfigError(
                "give planner.run(llm_context=...) only; context_meta is its old name"
            )
        warnings.warn(
            "planner.run(context_meta=...) is deprecated; use llm_context=...",
            DeprecationWarning,
            stacklevel=3,
        )
        llm_context = context_meta
    try:
        json.dumps(llm_context)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            "planner.run(llm_context=...) must be JSON-serialisable (it is shown to the "
            f"LLM and stored with the run); put other objects in tool_context: {exc}"
        ) from exc
    return llm_context
