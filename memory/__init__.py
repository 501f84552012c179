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

from penguiflow._exports import root_getattr

from .config import MemoryBudget, MemoryIsolation, ShortTermMemoryConfig
from .events import MemoryHealth
from .keys import MemoryKey
from .memory import ShortTermMemory
from .pool import ShortTermMemoryPool
from .store import InMemoryMemoryStore, MemoryStore

__all__ = [
    "InMemoryMemoryStore",
    "MemoryBudget",
    "MemoryHealth",
    "MemoryIsolation",
    "MemoryKey",
    "MemoryStore",
    "ShortTermMemory",
    "ShortTermMemoryConfig",
    "ShortTermMemoryPool",
]

_MOVED = {
    "STATE_SCHEMA_VERSION": "_state",
    "MemoryState": "_state",
    "MemoryStrategy": "config",
    "OverflowPolicy": "config",
    "MemoryContext": "context",
    "MemoryBudgetError": "errors",
    "MemoryClosedError": "errors",
    "MemoryConfigError": "errors",
    "MemoryConflictError": "errors",
    "MemoryRunError": "errors",
    "MemoryStateError": "errors",
    "MemoryStoreError": "errors",
    "SummarizerError": "errors",
    "MemoryEvent": "events",
    "MemoryEventCallback": "events",
    "MemoryEventType": "events",
    "derive_memory_key": "keys",
    "resolve_memory_key": "keys",
    "is_conflict": "store",
    "build_context": "strategies",
    "condense_turn": "strategies",
    "SummarizerClient": "summariser",
    "summarize_turns": "summariser",
    "TokenCounter": "tokens",
    "estimate_tokens": "tokens",
    "get_token_counter": "tokens",
    "ToolCallRecord": "turns",
    "Turn": "turns",
    "digest_result": "turns",
    "render_turn": "turns",
}

__getattr__ = root_getattr(
    __name__, moved={name: f"{__name__}.{module}" for name, module in _MOVED.items()}
)
