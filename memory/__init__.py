"""Short-term conversation memory under a token budget, persisted per session.

Typical use (the planner does this for you with ``ReactPlanner(short_term_memory=...)``)::

    from penguiflow.memory import (
        MemoryBudget, MemoryKey, ShortTermMemory, ShortTermMemoryConfig, Turn,
    )

    config = ShortTermMemoryConfig(
        strategy="truncation", budget=MemoryBudget(full_zone_turns=4, total_max_tokens=2000)
    )
    key = MemoryKey(tenant_id="acme", user_id="u1", session_id="s1")
    async with ShortTermMemory(config, key=key) as memory:
        await memory.add_turn(Turn(user="My name is Ada.", assistant="Hello Ada!"))
        block = await memory.get_llm_context()   # block.text goes to the LLM

See ``docs/memory.md``.
"""

from __future__ import annotations

from ._state import STATE_SCHEMA_VERSION, MemoryState
from .config import (
    MemoryBudget,
    MemoryIsolation,
    MemoryStrategy,
    OverflowPolicy,
    ShortTermMemoryConfig,
)
from .context import MemoryContext
from .errors import (
    MemoryBudgetError,
    MemoryClosedError,
    MemoryConfigError,
    MemoryConflictError,
    MemoryRunError,
    MemoryStateError,
    MemoryStoreError,
    SummarizerError,
)
from .events import MemoryEvent, MemoryEventCallback, MemoryEventType, MemoryHealth
from .keys import MemoryKey, derive_memory_key, resolve_memory_key
from .memory import ShortTermMemory
from .pool import ShortTermMemoryPool
from .store import InMemoryMemoryStore, MemoryStore, is_conflict
from .strategies import build_context, condense_turn
from .summariser import SummarizerClient, summarize_turns
from .tokens import TokenCounter, estimate_tokens, get_token_counter
from .turns import ToolCallRecord, Turn, digest_result, render_turn

__all__ = [
    "STATE_SCHEMA_VERSION",
    "InMemoryMemoryStore",
    "MemoryBudget",
    "MemoryBudgetError",
    "MemoryClosedError",
    "MemoryConfigError",
    "MemoryConflictError",
    "MemoryContext",
    "MemoryEvent",
    "MemoryEventCallback",
    "MemoryEventType",
    "MemoryHealth",
    "MemoryIsolation",
    "MemoryKey",
    "MemoryRunError",
    "MemoryState",
    "MemoryStateError",
    "MemoryStore",
    "MemoryStoreError",
    "MemoryStrategy",
    "OverflowPolicy",
    "ShortTermMemory",
    "ShortTermMemoryConfig",
    "ShortTermMemoryPool",
    "SummarizerClient",
    "SummarizerError",
    "TokenCounter",
    "ToolCallRecord",
    "Turn",
    "build_context",
    "condense_turn",
    "derive_memory_key",
    "digest_result",
    "estimate_tokens",
    "get_token_counter",
    "is_conflict",
    "render_turn",
    "resolve_memory_key",
    "summarize_turns",
]
