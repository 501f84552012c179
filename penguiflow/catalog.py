"""Tool metadata (``@tool``), ``NodeSpec`` and ``build_catalog`` for the planner."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from .errors import ConfigError
from .node import Node
from .registry import ModelRegistry

__all__ = ["NodeSpec", "SideEffect", "ToolMeta", "build_catalog", "tool"]

SideEffect = Literal["pure", "read", "write", "external", "stateful"]
_SIDE_EFFECTS: tuple[str, ...] = ("pure", "read", "write", "external", "stateful")
ApprovalRule = bool | Callable[[Any], bool]
"""``True`` to always ask a human, or a predicate over the validated args model."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ToolMeta:
    """What ``@tool`` attaches to a node function."""

    desc: str
    side_effects: SideEffect = "pure"
    tags: tuple[str, ...] = ()
    requires_approval: ApprovalRule = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def tool(
    *,
    desc: str,
    side_effects: SideEffect = "pure",
    tags: Sequence[str] = (),
    requires_approval: ApprovalRule = False,
    extra: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Describe a node function for the planner's catalog.

    Args:
        desc: what the tool does, shown to the LLM.
        side_effects: ``"pure"``, ``"read"``, ``"write"``, ``"external"`` or ``"stateful"``.
        tags: free-form labels (shown to the LLM, usable for filtering).
        requires_approval: ``True`` to pause for a human before every call, or a
            predicate over the validated args that decides per call.
        extra: any other metadata, kept on the ``NodeSpec``.

    Raises:
        ConfigError: ``desc`` is empty or ``side_effects`` is unknown.
    """
    if not desc or not desc.strip():
        raise ConfigError("@tool(desc=...) must describe what the tool does; got an empty desc")
    if side_effects not in _SIDE_EFFECTS:
        raise ConfigError(
            f"@tool(side_effects=...) must be one of {', '.join(_SIDE_EFFECTS)}; "
            f"got {side_effects!r}"
        )
    meta = ToolMeta(desc.strip(), side_effects, tuple(tags), requires_approval, dict(extra or {}))

    def decorate(func: F) -> F:
        func.__penguiflow_tool__ = meta  # type: ignore[attr-defined]
        return func

    return decorate


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
    args_schema: dict[str, Any] = field(init=False, repr=False)
    out_schema: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "args_schema", self.args_model.model_json_schema())
        object.__setattr__(self, "out_schema", self.out_model.model_json_schema())

    def needs_approval(self, args: BaseModel) -> bool:
        """Return whether a call with these validated ``args`` must wait for a human."""
        rule = self.requires_approval
        return bool(rule(args)) if callable(rule) else bool(rule)

    def to_tool_record(self) -> dict[str, Any]:
        """Return the JSON-friendly description shown to the LLM."""
        record: dict[str, Any] = {
            "name": self.name,
            "desc": self.desc,
            "side_effects": self.side_effects,
            "args_schema": self.args_schema,
            "out_schema": self.out_schema,
        }
        if self.tags:
            record["tags"] = list(self.tags)
        return record


def build_catalog(nodes: Sequence[Node], registry: ModelRegistry) -> list[NodeSpec]:
    """Build ``NodeSpec``s for ``nodes`` from their ``@tool`` metadata and registry models.

    Args:
        nodes: the tool nodes.
        registry: must hold the input (args) and output models of every node.

    Raises:
        ConfigError: a node has no registered models, models are not pydantic models,
            or two nodes share a name.
    """
    specs: list[NodeSpec] = []
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise ConfigError(
                f"build_catalog: two tools are named {node.name!r}; names must be unique"
            )
        seen.add(node.name)
        if not registry.has(node.name):
            raise ConfigError(
                f"build_catalog: node {node.name!r} has no models; call "
                f"registry.register({node.name!r}, ArgsModel, OutModel) first"
            )
        in_model, out_model = registry.models(node.name)
        for label, model in (("input", in_model), ("output", out_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise ConfigError(
                    f"build_catalog: the {label} model of {node.name!r} must be a pydantic "
                    f"BaseModel subclass, got {model!r}"
                )
        meta: ToolMeta | None = getattr(node.func, "__penguiflow_tool__", None)
        doc = (getattr(node.func, "__doc__", None) or "").strip()
        if meta is None:
            meta = ToolMeta(desc=doc.splitlines()[0] if doc else node.name)
        specs.append(
            NodeSpec(
                node=node,
                name=node.name,
                desc=meta.desc,
                args_model=in_model,
                out_model=out_model,
                side_effects=meta.side_effects,
                tags=meta.tags,
                requires_approval=meta.requires_approval,
                extra=meta.extra,
            )
        )
    return specs
