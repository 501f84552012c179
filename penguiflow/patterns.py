"""Reusable graph shapes: ``join_k``, ``map_concurrent``, ``predicate_router``, ``union_router``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from .context import Context
from .errors import ConfigError
from .node import Node
from .policy import NodePolicy
from .types import Message

__all__ = ["join_k", "map_concurrent", "predicate_router", "union_router"]

T = TypeVar("T")
R = TypeVar("R")

RouteTarget = Node | str | Sequence[Node | str] | None


class _JoinNode(Node):
    __slots__ = ("_buckets", "k")

    def __init__(self, name: str, k: int, policy: NodePolicy | None) -> None:
        self.k = k
        self._buckets: dict[str | None, list[Any]] = {}
        super().__init__(self._join, name, policy=policy)

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


def predicate_router(
    name: str,
    predicate: Callable[[Any], RouteTarget | Awaitable[RouteTarget]],
    *,
    policy: NodePolicy | None = None,
) -> Node:
    """A node that sends each message to the successors ``predicate(message)`` names.

    ``predicate`` returns a node, a node name, a list of them, or ``None`` to drop the
    message. Targets must be successors of the router.
    """
    is_async = inspect.iscoroutinefunction(predicate)

    async def route(message: Any, ctx: Context) -> None:
        targets = predicate(message)
        if is_async:
            targets = await targets  # type: ignore[misc]
        if targets is None or targets == []:
            return None
        await ctx.emit(message, to=targets)  # type: ignore[arg-type]
        return None

    return Node(route, name, policy=policy)


def union_router(name: str, union_model: Any, *, policy: NodePolicy | None = None) -> Node:
    """A node that validates the payload against a union and routes by the variant.

    The message goes to the successor named after the validated variant's class name.

    Raises:
        ConfigError: at run time, when no successor is named after the variant
            (surfaced to ``fetch`` as a ``FlowError``).
    """
    adapter: TypeAdapter[Any] = TypeAdapter(union_model)

    async def route(message: Any, ctx: Context) -> None:
        payload = message.payload if isinstance(message, Message) else message
        try:
            variant = adapter.validate_python(payload)
        except ValidationError as exc:
            raise ConfigError(f"union_router {name!r}: payload matches no variant: {exc}") from exc
        target = type(variant).__name__
        out = (
            message.model_copy(update={"payload": variant})
            if isinstance(message, Message)
            else variant
        )
        await ctx.emit(out, to=target)
        return None

    return Node(route, name, policy=policy)
