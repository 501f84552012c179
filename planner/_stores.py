"""What a planner does with its ``state_store``: the store itself, or its in-process companion.

``penguiflow.state.InMemoryStateStore`` is the runtime's in-process event store. Given
to a planner, it gets a companion :class:`~penguiflow.sessions.in_memory.InMemorySessionStore`
that holds the planner's runs, pauses, tool journal and memory, in this process only:
every planner given the same ``InMemoryStateStore`` shares that companion, so a pause
made by one can be resumed by another in the same process. Nothing of it survives a
restart; production planners are given a ``SqlSessionStore``.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..memory import MemoryStore
from ..sessions import SessionStore
from ..sessions.in_memory import InMemorySessionStore
from ..state import InMemoryStateStore

__all__ = ["planner_store"]

_COMPANIONS: weakref.WeakKeyDictionary[Any, InMemorySessionStore] = weakref.WeakKeyDictionary()


def planner_store(store: Any) -> SessionStore | MemoryStore | None:
    """The store the planner records runs, pauses and memory in, for ``state_store``."""
    if isinstance(store, InMemoryStateStore) and not isinstance(store, SessionStore):
        companion = _COMPANIONS.get(store)
        if companion is None:
            companion = _COMPANIONS[store] = InMemorySessionStore()
        return companion
    return store  # type: ignore[no-any-return]
