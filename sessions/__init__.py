"""SQL session store: durable runs, pauses (human in the loop), tool journal and memory.

``SqlSessionStore`` (and SQLAlchemy with it) is imported on first use, so importing this
package stays cheap. :class:`SessionStore` is what a planner needs from a store, for
those who write their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    CorruptRecordError,
    DuplicateRunError,
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseError,
    PauseExpiredError,
    PauseLeaseLostError,
    PauseNotFoundError,
    RunInUseError,
    RunLeaseLostError,
    RunNotFoundError,
    SchemaVersionError,
    SessionStoreError,
    StaleVersionError,
    StoreBackendError,
    StoreClosedError,
    StoreStateError,
    UnserializableRecordError,
)
from .errors import renamed_error as _renamed_error
from .models import (
    DEFAULT_TENANT,
    JournalBegin,
    JournalEntry,
    JournalStatus,
    PauseClaim,
    PauseRecord,
    PauseStatus,
    PauseTicket,
    PruneResult,
    RunRecord,
    RunStatus,
    SessionRecord,
    StoreState,
)
from .protocol import JournalStore, PauseStore, RunStore, SessionStore

if TYPE_CHECKING:
    from .store import SqlSessionStore

__all__ = [
    "DEFAULT_TENANT",
    "CorruptRecordError",
    "DuplicateRunError",
    "JournalBegin",
    "JournalEntry",
    "JournalStatus",
    "JournalStore",
    "PauseAlreadyClaimedError",
    "PauseAlreadyResumedError",
    "PauseClaim",
    "PauseError",
    "PauseExpiredError",
    "PauseLeaseLostError",
    "PauseNotFoundError",
    "PauseRecord",
    "PauseStatus",
    "PauseStore",
    "PauseTicket",
    "PruneResult",
    "RunInUseError",
    "RunLeaseLostError",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SchemaVersionError",
    "SessionRecord",
    "SessionStore",
    "SessionStoreError",
    "SqlSessionStore",
    "StaleVersionError",
    "StoreBackendError",
    "StoreClosedError",
    "StoreState",
    "StoreStateError",
    "UnserializableRecordError",
]


def __getattr__(name: str) -> Any:
    if name == "SqlSessionStore":
        from .store import SqlSessionStore

        globals()[name] = SqlSessionStore
        return SqlSessionStore
    renamed = _renamed_error(name)  # an old error name: warns, then gives the new class
    if renamed is not None:
        return renamed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
