"""Completions of the Redis job queue, recorded in batches by one task.

A worker completes jobs from many lanes at once. Sending each completion on its own
costs a round trip; here one task sends them, one script call at a time, and the
completions handed over while a call is under way leave together in the next one. The
batch size follows the load, and a lone completion still leaves at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .jobs import JobDone

__all__ = ["Completion", "CompletionBatches"]

logger = logging.getLogger("penguiflow.worker")

MAX_BATCH = 64
"""Completions per script call: Redis runs a script in one go, which should stay short."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A job to complete: its stream entry, its result record, who to tell."""

    job_id: str
    entry_id: str
    record: str
    on_done: JobDone


class CompletionBatches:
    """Sends completions with ``send(batch)``, one batch at a time.

    ``send`` records a batch and tells each completion how it ended; if it raises, this
    class tells every completion of the batch the error instead.

    Args:
        send: records up to :data:`MAX_BATCH` completions.
    """

    def __init__(self, send: Callable[[list[Completion]], Awaitable[None]]) -> None:
        self._send = send
        self._waiting: list[Completion] = []
        self._sender: asyncio.Task[None] | None = None

    def add(self, completion: Completion) -> None:
        """Send ``completion`` with the next batch; it cannot be withdrawn."""
        self._waiting.append(completion)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(
                self._send_waiting(), name="penguiflow-redis-completions"
            )

    async def _send_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            try:
                await self._send(batch)
            except asyncio.CancelledError as exc:
                batch += self._waiting
                self._waiting.clear()
                _tell(batch, exc)
                raise
            except Exception as exc:  # the callers get the error; the next batch goes on
                _tell(batch, exc)

    async def aclose(self) -> None:
        """Wait until every completion handed over was sent."""
        if self._sender is not None and not self._sender.done():
            await asyncio.wait({self._sender})


def _tell(batch: list[Completion], error: BaseException) -> None:
    for completion in batch:
        try:
            completion.on_done(completion.job_id, error)
        except Exception:
            logger.exception("job completion handling failed")
