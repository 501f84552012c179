"""``Node``: an async function with a name and a policy, and the ``a.to(b, c)`` edges."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any

from ._typing import NodeFunc
from .errors import NodeSignatureError
from .policy import NodePolicy

__all__ = ["Node", "NodePolicy"]

_ids = itertools.count()


def _is_async_callable(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _check_signature(func: Any, name: str) -> None:
    if not callable(func):
        raise NodeSignatureError(
            f"Node {name!r}: expected an async function `async def fn(message, ctx)`, "
            f"got {type(func).__name__}"
        )
    if not _is_async_callable(func):
        raise NodeSignatureError(
            f"Node function must be declared with async def: {name!r} "
            f"({getattr(func, '__qualname__', func)}) is a plain function; the runtime is "
            "async-only, write it as `async def fn(message, ctx)`"
        )
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: accept
        return
    params = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) > 2 or (len(positional) < 2 and not has_varargs):
        raise NodeSignatureError(
            f"Node {name!r} must accept exactly two parameters (message, ctx); "
            f"{getattr(func, '__qualname__', func)} has the signature {sig}"
        )


_DEFAULT_POLICY = NodePolicy()  # frozen: one instance serves every node without a policy


class Node:
    """An async function run by the flow, with a name and a :class:`NodePolicy`.

    Args:
        func: ``async def fn(message, ctx) -> Any``. A non-``None`` return value is sent
            to the node's successors (or to Rookery, the egress, if it has none).
        name: a unique name in the flow; defaults to the function's name.
        policy: timeouts, retries, validation and concurrency.
        allow_cycle: the node may have an edge to itself (a controller loop).

    Raises:
        NodeSignatureError: ``func`` is not async (also a ``TypeError``) or does not
            take ``(message, ctx)`` (also a ``ValueError``).
    """

    __slots__ = ("__weakref__", "allow_cycle", "func", "name", "node_id", "policy")

    def __init__(
        self,
        func: NodeFunc,
        name: str | None = None,
        policy: NodePolicy | None = None,
        allow_cycle: bool = False,
    ) -> None:
        resolved = name or getattr(func, "__name__", None)
        if not resolved:
            raise NodeSignatureError(
                "Node needs a name: pass name=... for callables without __name__"
            )
        _check_signature(func, resolved)
        self.func = func
        self.name: str = resolved
        self.policy = policy if policy is not None else _DEFAULT_POLICY
        self.allow_cycle = allow_cycle
        self.node_id = f"{resolved}#{next(_ids)}"

    def to(self, *nodes: Node) -> tuple[Node, tuple[Node, ...]]:
        """Declare edges from this node to ``nodes``; pass the result to ``create()``."""
        for node in nodes:
            if not isinstance(node, Node):
                raise NodeSignatureError(
                    f"{self.name}.to(...) takes Node objects, got {type(node).__name__}"
                )
        return (self, nodes)

    def on_trace_end(self, trace_id: str) -> None:
        """Hook called when a trace ends (finished, cancelled or expired); no-op here."""

    def __repr__(self) -> str:
        return f"Node(name={self.name!r}, policy={self.policy!r})"


Adjacency = tuple[Node, tuple[Node, ...]]
TraceEndHook = Callable[[str], None]
