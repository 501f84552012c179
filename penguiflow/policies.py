"""Routing policies: let configuration steer a router node without changing the graph.

A router (``predicate_router``, ``union_router``) proposes successors for a message; a
policy given as ``policy=`` then decides: keep the proposal (``None``), route elsewhere
(a node, a node name, or a list of them), or drop the message (an empty list). A policy
is an object with ``select(request)``, or a plain function of the request; either may
be async.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from .errors import ConfigError
from .node import Node

if TYPE_CHECKING:
    from .context import Context

__all__ = [
    "DictRoutingPolicy",
    "PolicyLike",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRequest",
    "evaluate_policy",
]

RoutingDecision: TypeAlias = Node | str | Sequence[Node | str] | None
"""A policy's answer: ``None`` keeps the proposal; ``[]`` drops the message."""


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """What a routing policy is asked to decide on.

    Attributes:
        message: the message being routed (for ``union_router``, the validated variant).
        context: the router's ``Context``.
        node: the router node.
        proposed: the successors the router proposes.
        trace_id: the message's trace (``None`` for payload-only messages).
    """

    message: Any
    context: Context
    node: Node
    proposed: tuple[Node, ...]
    trace_id: str | None

    @property
    def node_name(self) -> str:
        """The router's name."""
        return self.node.name

    @property
    def proposed_names(self) -> tuple[str, ...]:
        """The names of the proposed successors, in order."""
        return tuple(node.name for node in self.proposed)


@runtime_checkable
class RoutingPolicy(Protocol):
    """An object that picks a router's targets: ``select(request) -> decision``."""

    def select(self, request: RoutingRequest) -> RoutingDecision | Awaitable[RoutingDecision]:
        """Return the targets for ``request`` (``None``: keep the proposal), or an awaitable."""
        ...


PolicyLike: TypeAlias = (
    RoutingPolicy | Callable[[RoutingRequest], RoutingDecision | Awaitable[RoutingDecision]]
)
"""A :class:`RoutingPolicy`, or a function of the request."""


async def evaluate_policy(policy: PolicyLike, request: RoutingRequest) -> RoutingDecision:
    """Ask ``policy`` about ``request``; await its answer if it is awaitable."""
    select = policy.select if isinstance(policy, RoutingPolicy) else policy
    decision = select(request)
    if inspect.isawaitable(decision):
        return await decision
    return decision


KeyGetter: TypeAlias = Callable[[RoutingRequest], str | None]


def _by_trace(request: RoutingRequest) -> str | None:
    return request.trace_id


class DictRoutingPolicy:
    """A routing policy read from a mapping: key -> targets.

    The key is the request's trace id unless ``key_getter`` says otherwise (a tenant,
    a topic...). A key that is missing, or ``None``, gets ``default``.

    Args:
        mapping: key -> a node name, a node, or a list of them.
        default: the decision for unmapped keys (``None``: keep the router's proposal).
        key_getter: ``fn(request) -> key``.
    """

    def __init__(
        self,
        mapping: Mapping[str, RoutingDecision],
        *,
        default: RoutingDecision = None,
        key_getter: KeyGetter | None = None,
    ) -> None:
        self._mapping = dict(mapping)
        self._default = default
        self._key_getter = key_getter or _by_trace

    def select(self, request: RoutingRequest) -> RoutingDecision:
        """Return the targets mapped to the request's key, else the default."""
        key = self._key_getter(request)
        if key is None:
            return self._default
        return self._mapping.get(key, self._default)

    def update_mapping(self, mapping: Mapping[str, RoutingDecision]) -> None:
        """Replace the mapping (for example after reloading the configuration)."""
        self._mapping = dict(mapping)

    def set_default(self, decision: RoutingDecision) -> None:
        """Replace the decision for unmapped keys."""
        self._default = decision

    @classmethod
    def from_json(cls, payload: str, **kwargs: Any) -> DictRoutingPolicy:
        """Build a policy from a JSON object (``kwargs`` go to the constructor).

        Raises:
            ConfigError: the JSON is not an object.
        """
        return cls(_mapping_of(json.loads(payload), "DictRoutingPolicy.from_json"), **kwargs)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> DictRoutingPolicy:
        """Build a policy from a UTF-8 JSON file holding an object.

        Raises:
            ConfigError: the file does not hold a JSON object.
        """
        return cls.from_json(Path(path).read_text(encoding="utf-8"), **kwargs)

    @classmethod
    def from_env(
        cls,
        env_var: str,
        *,
        loader: Callable[[str], Mapping[str, RoutingDecision]] | None = None,
        default: RoutingDecision = None,
        key_getter: KeyGetter | None = None,
    ) -> DictRoutingPolicy:
        """Build a policy from an environment variable (JSON, or what ``loader`` reads).

        Raises:
            KeyError: the variable is not set.
            ConfigError: its value is not a mapping.
        """
        raw = os.environ.get(env_var)
        if raw is None:
            raise KeyError(f"environment variable {env_var!r} is not set")
        data = (loader or json.loads)(raw)
        mapping = _mapping_of(data, f"DictRoutingPolicy.from_env({env_var!r})")
        return cls(mapping, default=default, key_getter=key_getter)


def _mapping_of(data: Any, where: str) -> Mapping[str, RoutingDecision]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: needs a mapping of key -> targets, got {type(data).__name__}")
    return data
