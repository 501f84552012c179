"""Reusable graph shapes: ``join_k``, ``map_concurrent``, ``predicate_router``, ``union_router``.

The nodes built here take any payload: their default policy is
``NodePolicy(validate="none")``, so a flow run with a registry does not need them
registered.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from .context import Context
from .errors import ConfigError
from .node import Node
from .policies import PolicyLike, RoutingRequest, evaluate_policy
from .policy import NodePolicy
from .types import Message

__all__ = ["join_k", "map_concurrent", "predicate_router", "union_router"]

T = TypeVar("T")
R = TypeVar("R")

RouteTarget = Node | str | Sequence[Node | str] | None

_ANY_PAYLOAD = NodePolicy(validate="none")


class _JoinNode(Node):
    __slots__ = ("_buckets", "k")

    def __init__(self, name: str, k: int, policy: NodePolicy | None) -> None:
        self.k = k
        self._buckets: dict[str | None, list[Any]] = {}
        super().__init__(self._join, name, policy=policy or _ANY_PAYLOAD)

    async def _join(self, message: Any, ctx: Context) -> Any:
        key = ctx.trace_id
        bucket = self._buckets.setdefault(key, [])
        payload = message.payload if isinstance(message, Message) else message
        bucket.append(payload)
        if len(bucket) < self.k:
            return None
        del self._buckets[key]
        if isinstance(message, Message):
            return message.model_copy(update={"payload": bucket})
        return bucket

    def on_trace_end(self, trace_id: str) -> None:
        """Drop the partial bucket of a trace that was cancelled, failed or expired."""
        self._buckets.pop(trace_id, None)

    @property
    def open_buckets(self) -> int:
        """Traces with a partial bucket (for monitoring and tests)."""
        return len(self._buckets)


def join_k(name: str, k: int, *, policy: NodePolicy | None = None) -> Node:
    """A node that waits for ``k`` messages of a trace and emits their payloads as a list.

    Buckets are per trace and are freed when they complete or when the trace is
    cancelled, fails or passes its deadline.

    Raises:
        ConfigError: ``k`` is not a positive integer.
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"join_k(k=...) must be a positive integer, got {k!r}")
    return _JoinNode(name, k, policy)


async def map_concurrent(
    items: Sequence[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    max_concurrency: int = 8,
) -> list[R]:
    """Run ``worker`` over ``items`` with at most ``max_concurrency`` at once.

    Returns:
        Results in the order of ``items``.

    Raises:
        Exception: the first failure; the other calls are cancelled.
    """
    if max_concurrency < 1:
        raise ConfigError(
            f"map_concurrent(max_concurrency=...) must be >= 1, got {max_concurrency}"
        )
    semaphore = asyncio.Semaphore(max_concurrency)
    results: list[Any] = [None] * len(items)

    async def run_one(index: int, item: T) -> None:
        async with semaphore:
            results[index] = await worker(item)

    try:
        async with asyncio.TaskGroup() as group:
            for index, item in enumerate(items):
                group.create_task(run_one(index, item))
    except BaseExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    return results


def _names(targets: RouteTarget) -> list[str]:
    if targets is None:
        return []
    items = [targets] if isinstance(targets, Node | str) else list(targets)
    return [item if isinstance(item, str) else item.name for item in items]


async def _route(
    ctx: Context,
    message: Any,
    proposed: RouteTarget,
    policy: PolicyLike | None,
    outgoing: Any,
) -> None:
    """Send ``outgoing`` to ``proposed``, or to what ``policy`` decides instead."""
    names = _names(proposed)
    if policy is not None and names:
        successors = {node.name: node for node in ctx.flow.successors(ctx.node)}
        request = RoutingRequest(
            message=message,
            context=ctx,
            node=ctx.node,
            proposed=tuple(successors[n] for n in names if n in successors),
            trace_id=ctx.trace_id,
        )
        decision = await evaluate_policy(policy, request)
        if decision is not None:
            names = _names(decision)
    if names:
        await ctx.emit(outgoing, to=names)


def _node_policy(router: str, name: str, policy: Any, node_policy: NodePolicy | None) -> NodePolicy:
    if isinstance(policy, NodePolicy):
        raise ConfigError(
            f"{router}({name!r}, policy=...) takes a routing policy (DictRoutingPolicy, or "
            "a function of the RoutingRequest); pass the node's NodePolicy as node_policy=..."
        )
    return node_policy or _ANY_PAYLOAD


def predicate_router(
    name: str,
    predicate: Callable[[Any], RouteTarget | Awaitable[RouteTarget]],
    *,
    policy: PolicyLike | None = None,
    node_policy: NodePolicy | None = None,
) -> Node:
    """A node that sends each message to the successors ``predicate(message)`` names.

    ``predicate`` returns a node, a node name, a list of them, or ``None`` (or ``[]``)
    to drop the message. Targets must be successors of the router.

    Args:
        name: the router's name.
        predicate: ``fn(message) -> targets`` (may be async).
        policy: a routing policy consulted after the predicate: it may keep (``None``),
            replace or drop (``[]``) the predicate's targets.
        node_policy: the router node's own policy (default: no validation).

    Raises:
        ConfigError: a ``NodePolicy`` given as ``policy``.
    """
    is_async = inspect.iscoroutinefunction(predicate)
    own_policy = _node_policy("predicate_router", name, policy, node_policy)

    async def route(message: Any, ctx: Context) -> None:
        targets = predicate(message)
        if is_async:
            targets = await targets  # type: ignore[misc]
        await _route(ctx, message, targets, policy, message)  # type: ignore[arg-type]
        return None

    return Node(route, name, policy=own_policy)


def _variant_target(ctx: Context, variant: Any) -> str:
    """The successor a ``union_router`` sends ``variant`` to: by ``kind``, else class."""
    kind = getattr(variant, "kind", None)
    class_name = type(variant).__name__
    if not isinstance(kind, str):
        return class_name
    names = {node.name for node in ctx.flow.successors(ctx.node)}
    return class_name if kind not in names and class_name in names else kind


def union_router(
    name: str,
    union_model: Any,
    *,
    policy: PolicyLike | None = None,
    node_policy: NodePolicy | None = None,
) -> Node:
    """A node that validates the payload against a union and routes by the variant.

    The message goes to the successor named after the variant's ``kind`` field (a
    discriminated union's tag), or, when no successor has that name or the variant has
    no string ``kind``, after the variant's class name.

    Args:
        name: the router's name.
        union_model: the union of pydantic models (``Search | Fetch``, or an
            ``Annotated`` discriminated union).
        policy: a routing policy consulted after the match (its request's ``message``
            is the validated variant).
        node_policy: the router node's own policy (default: no validation).

    Raises:
        ConfigError: a ``NodePolicy`` given as ``policy``; at run time, a payload that
            matches no variant (surfaced to ``fetch`` as a ``FlowError``).
        UnknownTargetError: at run time, no successor is named after the variant
            (surfaced to ``fetch`` as a ``FlowError``).
    """
    adapter: TypeAdapter[Any] = TypeAdapter(union_model)
    own_policy = _node_policy("union_router", name, policy, node_policy)

    async def route(message: Any, ctx: Context) -> None:
        payload = message.payload if isinstance(message, Message) else message
        try:
            variant = adapter.validate_python(payload)
        except ValidationError as exc:
            raise ConfigError(f"union_router {name!r}: payload matches no variant: {exc}") from exc
        target = _variant_target(ctx, variant)
        out = (
            message.model_copy(update={"payload": variant})
            if isinstance(message, Message)
            else variant
        )
        await _route(ctx, variant, target, policy, out)
        return None

    return Node(route, name, policy=own_policy)
