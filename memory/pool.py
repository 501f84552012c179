"""``ShortTermMemoryPool``: the memories of many sessions for one planner."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from types import TracebackType

from .config import ShortTermMemoryConfig
from .errors import MemoryClosedError, MemoryConfigError
from .events import MemoryEventCallback
from .keys import MemoryKey
from .memory import ShortTermMemory
from .store import InMemoryMemoryStore, MemoryStore
from .summariser import SleepFunc, SummarizerClient

__all__ = ["ShortTermMemoryPool"]


class ShortTermMemoryPool:
    """Hands out one :class:`ShortTermMemory` per key and owns their background work.

    A planner keeps one pool: each run asks for its key's memory, and background
    summaries keep going after the run returns. At most ``max_open`` memories stay
    cached; the least recently used idle one is closed past that (its state is in the
    store). :meth:`aclose` waits for every summary and closes every memory.

    Args:
        config: the memory settings.
        store: where memories are persisted; ``None`` uses an
            :class:`InMemoryMemoryStore` owned by the pool.
        summarizer: LLM client for summaries when ``config.summarizer_llm`` is not set.
        model: model name used to pick the tokenizer.
        event_callback: receives every memory's events.
        max_open: the most memories kept open.
        sleep: backoff sleep passed to each memory (tests inject a fast one).
    """

    def __init__(
        self,
        config: ShortTermMemoryConfig,
        *,
        store: MemoryStore | None = None,
        summarizer: SummarizerClient | None = None,
        model: str | None = None,
        event_callback: MemoryEventCallback | None = None,
        max_open: int = 256,
        sleep: SleepFunc | None = None,
    ) -> None:
        if max_open < 1:
            raise MemoryConfigError(f"ShortTermMemoryPool.max_open must be >= 1, got {max_open}")
        self.config = config
        self.store: MemoryStore = store if store is not None else InMemoryMemoryStore()
        self._summarizer = summarizer
        self._model = model
        self._callback = event_callback
        self._max_open = max_open
        self._sleep = sleep
        self._open: OrderedDict[MemoryKey, ShortTermMemory] = OrderedDict()
        self._lock = asyncio.Lock()
        self._closed = False

    def __len__(self) -> int:
        return len(self._open)

    async def __aenter__(self) -> ShortTermMemoryPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def acquire(self, key: MemoryKey) -> ShortTermMemory:
        """Return the memory of ``key``, freshly loaded from the store.

        Args:
            key: the conversation's key.

        Returns:
            The open memory (shared by concurrent runs of the same key).

        Raises:
            MemoryClosedError: the pool was closed.
            MemoryStoreError: the store failed.
        """
        if self._closed:
            raise MemoryClosedError(operation="acquire")
        async with self._lock:
            memory = self._open.get(key)
            if memory is None:
                memory = ShortTermMemory(
                    self.config,
                    key=key,
                    store=self.store,
                    summarizer=self._summarizer,
                    model=self._model,
                    event_callback=self._callback,
                    sleep=self._sleep,
                )
                self._open[key] = memory
            self._open.move_to_end(key)
            await self._evict_idle(keep=key)
        await memory.load()
        return memory

    async def _evict_idle(self, *, keep: MemoryKey) -> None:
        for key in list(self._open):
            if len(self._open) <= self._max_open:
                return
            memory = self._open[key]
            if key == keep or (memory.pending and not memory.closed):
                continue  # summary work in progress; evict it later
            del self._open[key]
            await memory.aclose()

    async def flush(self) -> None:
        """Wait for the background summaries of every open memory."""
        for memory in list(self._open.values()):
            await memory.flush()

    async def aclose(self) -> None:
        """Finish every background summary and close every memory; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        memories = list(self._open.values())
        self._open.clear()
        for memory in memories:
            await memory.aclose()
