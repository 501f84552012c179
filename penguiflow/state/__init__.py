"""Durability: the ``StateStore`` protocol, its records, and an in-memory store.

``penguiflow.state.in_memory.InMemoryStateStore`` keeps everything in the process, for
tests and notebooks; ``penguiflow.sessions.SqlSessionStore`` persists to SQLite or
PostgreSQL.
"""

from __future__ import annotations

from .in_memory import InMemoryStateStore
from .models import RemoteBinding, StoredEvent
from .protocol import StateStore

__all__ = ["InMemoryStateStore", "RemoteBinding", "StateStore", "StoredEvent"]
