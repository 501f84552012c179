"""SQL session store: durable runs, pauses (human in the loop), tool journal and memory.

``SqlSessionStore`` (and SQLAlchemy with it) is imported on first use, so importing this
package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    CorruptRecordError,
    DuplicateRunError,
    PauseAlreadyClaimed,
    PauseAlreadyResumed,
    PauseError,
    PauseExpired,
    PauseLeaseLost,
    PauseNotFound,
    RunNotFoundError,
    SchemaVersionError,
    SessionStoreError,
    StaleVersionError,
    StoreBackendError,
    StoreClosedError,
    StoreStateError,
    UnserializableRecordError,
)
from .models import (
    DEFAULT_TENANT,
    JournalBegin,
    JournalEntry,
    JournalStatus,
    MemoryKeyLike,
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

if TYPE_CHECKING:
    from ._credentials import OAuthStateRecord, UserCredentialRecord
    from .store import DEFAULT_URL, SqlSessionStore

__all__ = [
    "DEFAULT_TENANT",
    "DEFAULT_URL",
    "CorruptRecordError",
    "DuplicateRunError",
    "JournalBegin",
    "JournalEntry",
    "JournalStatus",
    "MemoryKeyLike",
    "OAuthStateRecord",
    "PauseAlreadyClaimed",
    "PauseAlreadyResumed",
    "PauseClaim",
    "PauseError",
    "PauseExpired",
    "PauseLeaseLost",
    "PauseNotFound",
    "PauseRecord",
    "PauseStatus",
    "PauseTicket",
    "PruneResult",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "SchemaVersionError",
    "SessionRecord",
    "SessionStoreError",
    "SqlSessionStore",
    "StaleVersionError",
    "StoreBackendError",
    "StoreClosedError",
    "StoreState",
    "StoreStateError",
    "UnserializableRecordError",
    "UserCredentialRecord",
]

_LAZY = {"SqlSessionStore", "DEFAULT_URL"}
_LAZY_RECORDS = {"OAuthStateRecord", "UserCredentialRecord"}


def __getattr__(name: str) -> Any:
    if name in _LAZY or name in _LAZY_RECORDS:
        from . import _credentials, store

        value = getattr(store if name in _LAZY else _credentials, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
