"""SQL session store: durable runs, pauses (human in the loop), tool journal and memory.

``SqlSessionStore`` (and SQLAlchemy with it) is imported on first use, so importing this
package stays cheap. :class:`SessionStore` is what a planner needs from a store, for
those who write their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from penguiflow._exports import root_getattr

from .errors import (
    DuplicateRunError,
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseNotFoundError,
    RunNotFoundError,
    SessionStoreError,
)
from .errors import renamed_error as _renamed_error
from .models import (
    DEFAULT_TENANT,
    PauseRecord,
    PauseStatus,
    RunRecord,
    RunStatus,
    SessionRecord,
)
from .protocol import JournalStore, PauseStore, RunStore, SessionStore

if TYPE_CHECKING:
    from .store import SqlSessionStore

__all__ = [
    "DEFAULT_TENANT",
    "DuplicateRunError",
    "JournalStore",
    "PauseAlreadyClaimedError",
    "PauseAlreadyResumedError",
    "PauseExpiredError",
    "PauseNotFoundError",
    "PauseRecord",
    "PauseStatus",
    "PauseStore",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SessionRecord",
    "SessionStore",
    "SessionStoreError",
    "SqlSessionStore",
]

_MOVED = {
    **dict.fromkeys(
        (
            "CorruptRecordError",
            "PauseError",
            "PauseLeaseLostError",
            "RunInUseError",
            "RunLeaseLostError",
            "SchemaVersionError",
            "StaleVersionError",
            "StoreBackendError",
            "StoreClosedError",
            "StoreStateError",
            "UnserializableRecordError",
        ),
        "penguiflow.sessions.errors",
    ),
    **dict.fromkeys(
        (
            "JournalBegin",
            "JournalEntry",
            "JournalStatus",
            "PauseClaim",
            "PauseTicket",
            "PruneResult",
            "StoreState",
        ),
        "penguiflow.sessions.models",
    ),
}

_resolve = root_getattr(
    __name__, lazy={"SqlSessionStore": "penguiflow.sessions.store"}, moved=_MOVED
)


def __getattr__(name: str) -> Any:
    renamed = _renamed_error(name)  # an old error name: warns, then gives the new class
    return renamed if renamed is not None else _resolve(name)


def __dir__() -> list[str]:
    return sorted(__all__)
