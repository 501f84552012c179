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
    playbook: Playbook, parent_msg: Message, timeout: float | None = None
) -> Any:
    """Run ``playbook``'s subflow on ``parent_msg`` and return its first result.

    The subflow is started, fed ``parent_msg``, awaited on the same trace, then stopped.
    If the caller is cancelled the subflow's trace is cancelled and the subflow stopped;
    if the subflow fails, its ``FlowError`` is raised here; it never hangs on a subflow
    that produces nothing (the subflow reports ``no_result``).

    Args:
        playbook: a factory returning a new flow, or ``(flow, registry)``.
        parent_msg: the envelope to run the subflow on.
        timeout: seconds to wait for the result (``None`` for no limit).

    Raises:
        FlowError: the subflow failed.
        TraceCancelled: the subflow's trace was cancelled.
        TimeoutError: ``timeout`` passed.
    """
    if not isinstance(parent_msg, Message):
        raise ConfigError(
            f"call_playbook needs a Message envelope, got {type(parent_msg).__name__}"
        )
    built = playbook()
    flow, registry = built if isinstance(built, tuple) else (built, None)
    flow.run(registry=registry)
    try:
        await flow.emit(parent_msg)
        if timeout is None:
            return await flow.fetch(trace_id=parent_msg.trace_id)
        async with asyncio.timeout(timeout):
            return await flow.fetch(trace_id=parent_msg.trace_id)
    except BaseException:
        await asyncio.shield(flow.cancel(parent_msg.trace_id))
        raise
    finally:
        await asyncio.shield(flow.stop())
