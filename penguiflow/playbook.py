"""``call_playbook``: run a subflow for one message, propagating failure and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import ConfigError
from .registry import ModelRegistry
from .types import Message

if TYPE_CHECKING:
    from .flow import PenguiFlow

__all__ = ["Playbook", "call_playbook"]

Playbook: TypeAlias = Callable[[], "PenguiFlow | tuple[PenguiFlow, ModelRegistry | None]"]
"""A factory that builds a fresh subflow (optionally with its registry) per call."""


async def call_playbook(
    playbook: Playbook,
    parent_msg: Message,
    timeout: float | None = None,
    *,
    runtime: PenguiFlow | None = None,
) -> Any:
    """Run ``playbook``'s subflow on ``parent_msg`` and return the payload of its first result.

    The subflow is started, fed ``parent_msg``, awaited on the same trace, then stopped.
    If the caller is cancelled the subflow's trace is cancelled and the subflow stopped;
    if the subflow fails, its ``FlowError`` is raised here; it never hangs on a subflow
    that produces nothing (the subflow reports ``no_result``). A result that is a
    ``Message`` is unwrapped: its payload is returned.

    Args:
        playbook: a factory returning a new flow, or ``(flow, registry)``.
        parent_msg: the envelope to run the subflow on.
        timeout: seconds to wait for the result (``None`` for no limit).
        runtime: the flow ``parent_msg``'s trace runs in, when the call is made outside
            its nodes: cancelling (or failing) that trace there stops the subflow too.
            Inside a node (``ctx.call_playbook``) this is automatic.

    Raises:
        FlowError: the subflow failed, or the trace failed in ``runtime``.
        TraceCancelled: the subflow's trace was cancelled, or the trace was cancelled
            in ``runtime``.
        TimeoutError: ``timeout`` passed.
    """
    if not isinstance(parent_msg, Message):
        raise ConfigError(
            f"call_playbook needs a Message envelope, got {type(parent_msg).__name__}"
        )
    built = playbook()
    flow, registry = built if isinstance(built, tuple) else (built, None)
    flow.run(registry=registry)
    key = parent_msg.trace_id
    try:
        await flow.emit(parent_msg)
        async with asyncio.timeout(timeout):
            if runtime is None:
                result = await flow.fetch(trace_id=key)
            else:
                result = await _fetch_while_running(flow, runtime, key)
    except BaseException:
        await asyncio.shield(flow.cancel(key))
        raise
    finally:
        await asyncio.shield(flow.stop())
    return result.payload if isinstance(result, Message) else result


async def _fetch_while_running(flow: PenguiFlow, runtime: PenguiFlow, key: str) -> Any:
    """Fetch the subflow's result unless the trace ends in ``runtime`` first.

    Raises:
        BaseException: what the trace ended with in ``runtime``.
    """
    with runtime._engine.watch_trace(key) as ended:
        fetch = asyncio.ensure_future(flow.fetch(trace_id=key))
        try:
            await asyncio.wait((fetch, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not fetch.done():
                fetch.cancel()
                await asyncio.wait((fetch,))
        if fetch.cancelled():
            raise ended.result()
        return fetch.result()
