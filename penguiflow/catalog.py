"""Tool metadata (``@tool``), ``NodeSpec`` and ``build_catalog`` for the planner.

A tool is a typed function. ``@tool`` (optional) adds what its signature cannot say:
side effects, tags, approval, a policy, example calls, whether the planner shows it
from the start. The planner reads the rest from the function:
the arguments from its parameters, the result from its return annotation, the
description from its docstring (see :mod:`penguiflow._tool_functions`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar, overload

from pydantic import BaseModel, Field, ValidationError, field_validator

from ._tool_functions import function_summary, is_node_form, tool_parts
from .errors import ConfigError, ToolSignatureError
from .node import Node
from .policy import NodePolicy
from .registry import ModelRegistry

__all__ = [
    "NodeSpec",
    "SideEffect",
    "ToolInputExample",
    "ToolLoadingMode",
    "ToolMeta",
    "build_catalog",
    "tool",
]

SideEffect: TypeAlias = Literal["pure", "read", "write", "external", "stateful"]
_SIDE_EFFECTS: tuple[str, ...] = ("pure", "read", "write", "external", "stateful")
ApprovalRule = bool | Callable[[Any], bool]
"""``True`` to always ask a human, or a predicate over the validated args model."""

F = TypeVar("F", bound=Callable[..., Any])


class ToolLoadingMode(enum.StrEnum):
    """Whether a tool is offered from the start or only on demand (``NodeSpec.loading_mode``).

    Attributes:
        ALWAYS: offered from the first step (the default).
        DEFERRED: meant to be offered once looked up, for large catalogs.
    """

    ALWAYS = "always"
    DEFERRED = "deferred"


class ToolInputExample(BaseModel):
    """An example call of a tool, shown to the LLM with the tool.

    Attributes:
        args: the arguments, as JSON.
        description: when to call the tool like this.
        tags: labels (duplicates dropped, order kept).
    """

    args: dict[str, Any]
    description: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("args")
    @classmethod
    def _json_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(args)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ToolInputExample.args must be JSON values: {exc}") from None
        return args

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return [tag for tag in dict.fromkeys(str(t) for t in tags) if tag]


ExamplesArg: TypeAlias = Sequence[ToolInputExample | Mapping[str, Any]] | Mapping[str, Any] | None
"""What ``@tool(examples=...)`` takes: examples or dicts, or one dict."""


def _examples(examples: ExamplesArg) -> tuple[ToolInputExample, ...]:
    """Read ``@tool(examples=...)`` into :class:`ToolInputExample` objects.

    Raises:
        ConfigError: an example is neither a ``ToolInputExample`` nor a valid dict.
    """
    if not examples:
        return ()
    items = [examples] if isinstance(examples, Mapping) else examples
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ConfigError(
            "@tool(examples=...) takes a list of ToolInputExample or dicts, "
            f"got {type(examples).__name__}"
        )
    parsed: list[ToolInputExample] = []
    for item in items:
        if isinstance(item, ToolInputExample):
            parsed.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ConfigError(
                "@tool(examples=...) items are ToolInputExample or dicts like "
                f"{{'args': {{...}}}}, got {type(item).__name__}"
            )
        try:
            parsed.append(ToolInputExample.model_validate(dict(item)))
        except ValidationError as exc:
            raise ConfigError(f"@tool(examples=...): bad example {dict(item)!r}: {exc}") from None
    return tuple(parsed)


def _loading_mode(mode: ToolLoadingMode | str | None, where: str) -> ToolLoadingMode | None:
    """Read a loading mode given as the enum or its value.

    Raises:
        ConfigError: an unknown mode.
    """
    if mode is None:
        return None
    try:
        return ToolLoadingMode(mode)
    except ValueError:
        raise ConfigError(
            f"{where} must be 'always' or 'deferred' (ToolLoadingMode), got {mode!r}"
        ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolMeta:
    """What ``@tool`` attaches to a tool function.

    Attributes:
        desc: what the tool does (``""``: the tool's name is shown instead).
        side_effects: how the tool affects the world.
        tags: free-form labels.
        requires_approval: ``True``, ``False`` or a predicate over the validated args.
        extra: other metadata.
        policy: timeouts and retries of the tool's node (``None``: the default policy).
        loading_mode: when the tool is offered (``None``: the catalog's default).
        examples: example calls shown to the LLM.
        auth_scopes: the scopes a caller needs (for your own checks).
        cost_hint: how costly a call is, in words.
        latency_hint_ms: how long a call usually takes.
        safety_notes: what to be careful about, shown to the LLM.
    """

    desc: str
    side_effects: SideEffect = "pure"
    tags: tuple[str, ...] = ()
    requires_approval: ApprovalRule = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    policy: NodePolicy | None = None
    loading_mode: ToolLoadingMode | None = None
    examples: tuple[ToolInputExample, ...] = ()
    auth_scopes: tuple[str, ...] = ()
    cost_hint: str | None = None
    latency_hint_ms: int | None = None
    safety_notes: str | None = None


@overload
def tool(func: F, /) -> F: ...


@overload
def tool(
    *,
    desc: str | None = None,
    side_effects: SideEffect = "pure",
    tags: Sequence[str] | None = (),
    requires_approval: ApprovalRule = False,
    extra: Mapping[str, Any] | None = None,
    policy: NodePolicy | None = None,
    loading_mode: ToolLoadingMode | str | None = None,
    examples: ExamplesArg = None,
    auth_scopes: Sequence[str] | None = (),
    cost_hint: str | None = None,
    latency_hint_ms: int | None = None,
    safety_notes: str | None = None,
) -> Callable[[F], F]: ...


def tool(
    func: Any = None,
    /,
    *,
    desc: str | None = None,
    side_effects: SideEffect = "pure",
    tags: Sequence[str] | None = (),
    requires_approval: ApprovalRule = False,
    extra: Mapping[str, Any] | None = None,
    policy: NodePolicy | None = None,
    loading_mode: ToolLoadingMode | str | None = None,
    examples: ExamplesArg = None,
    auth_scopes: Sequence[str] | None = (),
    cost_hint: str | None = None,
    latency_hint_ms: int | None = None,
    safety_notes: str | None = None,
) -> Any:
    """Describe a tool function for the planner's catalog; use as ``@tool`` or ``@tool(...)``.

    The function is returned unchanged (it can still be called directly). It is either
    typed, ``async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> Weather``
    (sync functions run in a worker thread; a ``ctx: ToolContext`` parameter receives
    the call's context), or takes ``(args: ArgsModel, ctx)``. A typed function's
    signature is checked here, so a bad one fails at import time.

    Args:
        func: the function, when used as a bare ``@tool``.
        desc: what the tool does, shown to the LLM; default: the docstring's first
            paragraph.
        side_effects: ``"pure"``, ``"read"``, ``"write"``, ``"external"`` or ``"stateful"``.
        tags: free-form labels (shown to the LLM, usable for filtering).
        requires_approval: ``True`` to pause for a human before every call, or a
            predicate over the validated args that decides per call.
        extra: any other metadata, kept on the ``NodeSpec`` (an ``"examples"`` entry is
            read as ``examples`` when those are not given).
        policy: timeouts and retries of the tool's node.
        loading_mode: ``"always"`` (offered from the start) or ``"deferred"`` (on
            demand); default: ``build_catalog(default_loading_mode=...)``, else
            ``"always"``.
        examples: example calls shown to the LLM: ``ToolInputExample``s or dicts
            like ``{"args": {...}, "description": "..."}``.
        auth_scopes: the scopes a caller needs, kept on the ``NodeSpec``.
        cost_hint: how costly a call is, shown to the LLM.
        latency_hint_ms: how long a call usually takes, shown to the LLM.
        safety_notes: what to be careful about, shown to the LLM.

    Raises:
        ConfigError: ``desc`` is empty, ``side_effects`` or ``loading_mode`` is unknown,
            or an example is malformed.
        ToolSignatureError: a typed function's signature cannot become a schema (the
            message names the parameter and the fix).
    """
    if desc is not None and not desc.strip():
        raise ConfigError("@tool(desc=...) must describe what the tool does; got an empty desc")
    if side_effects not in _SIDE_EFFECTS:
        raise ConfigError(
            f"@tool(side_effects=...) must be one of {', '.join(_SIDE_EFFECTS)}; "
            f"got {side_effects!r}"
        )
    if policy is not None and not isinstance(policy, NodePolicy):
        raise ConfigError(f"@tool(policy=...) must be a NodePolicy, got {type(policy).__name__}")
    extra = dict(extra or {})
    if examples is None and "examples" in extra:
        examples = extra.pop("examples")
    options: dict[str, Any] = {
        "side_effects": side_effects,
        "tags": tuple(dict.fromkeys(tags or ())),
        "requires_approval": requires_approval,
        "extra": extra,
        "policy": policy,
        "loading_mode": _loading_mode(loading_mode, "@tool(loading_mode=...)"),
        "examples": _examples(examples),
        "auth_scopes": tuple(dict.fromkeys(auth_scopes or ())),
        "cost_hint": cost_hint,
        "latency_hint_ms": latency_hint_ms,
        "safety_notes": safety_notes,
    }

    def decorate(target: F) -> F:
        if not is_node_form(target):
            tool_parts(target, getattr(target, "__name__", "tool"))  # fail early on a bad signature
        summary = desc.strip() if desc is not None else function_summary(target)
        target.__penguiflow_tool__ = ToolMeta(desc=summary, **options)  # type: ignore[attr-defined]
        return target

    return decorate(func) if func is not None else decorate


@dataclass(frozen=True, eq=False)
class NodeSpec:
    """One entry of the planner's tool catalog.

    JSON schemas are computed once, when the spec is built.

    Attributes:
        node: the runtime node that executes the tool.
        name: the tool name the LLM uses (the node's name).
        desc: what the tool does.
        args_model: pydantic model of the arguments.
        out_model: pydantic model of the result.
        side_effects: how the tool affects the world.
        tags: free-form labels.
        requires_approval: ``True``, ``False`` or a predicate over the validated args.
        extra: other metadata.
        loading_mode: when the tool is offered (from the start, or on demand).
        examples: example calls shown to the LLM.
        auth_scopes: the scopes a caller needs.
        cost_hint: how costly a call is.
        latency_hint_ms: how long a call usually takes.
        safety_notes: what to be careful about.
    """

    node: Node
    name: str
    desc: str
    args_model: type[BaseModel]
    out_model: type[BaseModel]
    side_effects: SideEffect = "pure"
    tags: tuple[str, ...] = ()
    requires_approval: ApprovalRule = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    loading_mode: ToolLoadingMode = ToolLoadingMode.ALWAYS
    examples: tuple[ToolInputExample, ...] = ()
    auth_scopes: tuple[str, ...] = ()
    cost_hint: str | None = None
    latency_hint_ms: int | None = None
    safety_notes: str | None = None
    args_schema: dict[str, Any] = field(init=False, repr=False)
    out_schema: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "args_schema", self.args_model.model_json_schema())
        object.__setattr__(self, "out_schema", self.out_model.model_json_schema())

    def needs_approval(self, args: BaseModel) -> bool:
        """Return whether a call with these validated ``args`` must wait for a human."""
        rule = self.requires_approval
        return bool(rule(args)) if callable(rule) else bool(rule)

    def examples_payload(self) -> list[dict[str, Any]]:
        """Return the example calls as JSON-friendly dicts."""
        return [example.model_dump() for example in self.examples]

    def to_tool_record(self) -> dict[str, Any]:
        """Return the JSON-friendly description shown to the LLM.

        Tags, examples and the hints appear only when set.
        """
        record: dict[str, Any] = {
            "name": self.name,
            "desc": self.desc,
            "side_effects": self.side_effects,
            "args_schema": self.args_schema,
            "out_schema": self.out_schema,
        }
        if self.tags:
            record["tags"] = list(self.tags)
        hints = {
            "cost_hint": self.cost_hint,
            "latency_hint_ms": self.latency_hint_ms,
            "safety_notes": self.safety_notes,
        }
        record.update((key, value) for key, value in hints.items() if value is not None)
        if self.examples:
            record["examples"] = self.examples_payload()
        return record

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        policy: NodePolicy | None = None,
    ) -> NodeSpec:
        """Build the catalog entry of a tool function (typed, or ``(args: Model, ctx)``).

        Args:
            func: the function, with or without ``@tool``.
            name: the tool's name (default: the function's name).
            policy: the node's policy (default: ``@tool(policy=...)``, else the default).

        Raises:
            ConfigError: the function has no name and none was given.
            ToolSignatureError: the signature cannot become a schema.
        """
        resolved = name or getattr(func, "__name__", None)
        if not resolved:
            raise ConfigError(f"a tool built from {func!r} needs name=...: it has no __name__")
        meta = _meta(func, resolved)
        parts = tool_parts(func, resolved)
        node = Node(parts.call, name=resolved, policy=policy or meta.policy)
        return cls._from_parts(node, meta, parts.args_model, parts.out_model)

    @classmethod
    def _from_parts(
        cls,
        node: Node,
        meta: ToolMeta,
        args_model: type[BaseModel],
        out_model: type[BaseModel],
        default_mode: ToolLoadingMode = ToolLoadingMode.ALWAYS,
    ) -> NodeSpec:
        return cls(
            node=node,
            name=node.name,
            desc=meta.desc or node.name,
            args_model=args_model,
            out_model=out_model,
            side_effects=meta.side_effects,
            tags=meta.tags,
            requires_approval=meta.requires_approval,
            extra=meta.extra,
            loading_mode=meta.loading_mode or default_mode,
            examples=meta.examples,
            auth_scopes=meta.auth_scopes,
            cost_hint=meta.cost_hint,
            latency_hint_ms=meta.latency_hint_ms,
            safety_notes=meta.safety_notes,
        )


def _meta(func: Any, name: str) -> ToolMeta:
    meta: ToolMeta | None = getattr(func, "__penguiflow_tool__", None)
    if meta is None:
        meta = ToolMeta(desc=function_summary(func) or name)
    return meta


def _registered(node: Node, registry: ModelRegistry) -> NodeSpec:
    in_model, out_model = registry.models(node.name)
    for label, model in (("input", in_model), ("output", out_model)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(
                f"build_catalog: the {label} model of {node.name!r} must be a pydantic "
                f"BaseModel subclass, got {model!r}"
            )
    return NodeSpec._from_parts(node, _meta(node.func, node.name), in_model, out_model)


def _from_node(node: Node, registry: ModelRegistry | None) -> NodeSpec:
    if registry is not None and registry.has(node.name):
        return _registered(node, registry)
    try:
        return NodeSpec.from_function(node.func, name=node.name, policy=node.policy)
    except ToolSignatureError as exc:
        if registry is None or not is_node_form(node.func):
            raise
        raise ConfigError(
            f"build_catalog: node {node.name!r} has no models; call "
            f"registry.register({node.name!r}, ArgsModel, OutModel) first, or annotate "
            f"its function ({exc})"
        ) from None


def _declared_mode(item: Node | Callable[..., Any]) -> ToolLoadingMode | None:
    func = item.func if isinstance(item, Node) else item
    meta: ToolMeta | None = getattr(func, "__penguiflow_tool__", None)
    return meta.loading_mode if meta is not None else None


def build_catalog(
    tools: Sequence[Node | Callable[..., Any]],
    registry: ModelRegistry | None = None,
    *,
    default_loading_mode: ToolLoadingMode | str | None = None,
) -> list[NodeSpec]:
    """Build the ``NodeSpec``s of ``tools``.

    Each tool is a typed function (``build_catalog([get_weather])``), or a ``Node``
    whose models are registered in ``registry`` or read from its function's annotations.

    Args:
        tools: functions and nodes.
        registry: the input (args) and output models of nodes, by node name.
        default_loading_mode: the ``loading_mode`` of tools whose ``@tool`` sets none
            (default ``"always"``).

    Raises:
        ConfigError: a node has no models (neither registered nor annotated), models are
            not pydantic models, two tools share a name, or the loading mode is unknown.
        ToolSignatureError: a function's signature cannot become a schema.
    """
    default = _loading_mode(default_loading_mode, "build_catalog(default_loading_mode=...)")
    specs: list[NodeSpec] = []
    seen: set[str] = set()
    for item in tools:
        if isinstance(item, Node):
            spec = _from_node(item, registry)
        elif callable(item):
            spec = NodeSpec.from_function(item)
        else:
            raise ConfigError(
                f"build_catalog takes tool functions and Nodes, got {type(item).__name__}"
            )
        if spec.name in seen:
            raise ConfigError(
                f"build_catalog: two tools are named {spec.name!r}; names must be unique"
            )
        if default is not None and _declared_mode(item) is None:
            spec = dataclasses.replace(spec, loading_mode=default)
        seen.add(spec.name)
        specs.append(spec)
    return specs
