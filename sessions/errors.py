"""Errors raised by the SQL session store.

The session store adds this subtree to :mod:`penguiflow.errors`::

    PenguiFlowError
    ├── UsageError
    │   ├── SchemaVersionError              the database was migrated by a newer PenguiFlow
    │   ├── StoreStateError                 (also RuntimeError) store used before setup()
    │   │   └── StoreClosedError            store used after close()
    │   └── UnserializableRecordError       (also TypeError) a value is not plain JSON
    └── RunError
        └── SessionStoreError               base of every failure of the store itself
            ├── StoreBackendError           the database failed (lost connection, timeout)
            ├── CorruptRecordError          a stored record cannot be read back
            ├── StaleVersionError           optimistic concurrency conflict; reload and retry
            ├── RunNotFoundError            (also LookupError) no such run for this tenant
            ├── DuplicateRunError           the tenant already has a run with this id
            ├── RunInUseError               the run is paused, or running in another process
            ├── RunLeaseLostError           another process took the run over
            └── PauseError                  base of the pause/resume failures
                ├── PauseNotFoundError      (also LookupError) unknown or other tenant's
                ├── PauseExpiredError       the pause expired before anyone claimed it
                ├── PauseLeaseLostError     the lease ended and another process took over
                └── PauseAlreadyClaimedError          another resumer holds the pause now
                    └── PauseAlreadyResumedError      resolved already; carries the outcome

Every error pickles with its fields, so it can cross process boundaries. No error ever
carries a resume token.

The pause errors were once named without the ``Error`` suffix (``PauseNotFound``, ...);
those names still work, with a ``DeprecationWarning``, and are the same classes.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

from penguiflow.errors import RunError, UsageError

__all__ = [
    "CorruptRecordError",
    "DuplicateRunError",
    "PauseAlreadyClaimedError",
    "PauseAlreadyResumedError",
    "PauseError",
    "PauseExpiredError",
    "PauseLeaseLostError",
    "PauseNotFoundError",
    "RunInUseError",
    "RunLeaseLostError",
    "RunNotFoundError",
    "SchemaVersionError",
    "SessionStoreError",
    "StaleVersionError",
    "StoreBackendError",
    "StoreClosedError",
    "StoreStateError",
    "UnserializableRecordError",
]


def _rebuild(cls: type[_FieldsMixin], fields: dict[str, Any]) -> _FieldsMixin:
    return cls(**fields)


class _FieldsMixin(Exception):
    """Keeps the keyword fields of an error so it pickles with all of them."""

    _fields: dict[str, Any]

    def _init_fields(self, message: str, **fields: Any) -> None:
        self._fields = fields
        for name, value in fields.items():
            setattr(self, name, value)
        Exception.__init__(self, message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._fields))


class SchemaVersionError(_FieldsMixin, UsageError):
    """The database schema was written by a newer PenguiFlow than the one running.

    Attributes:
        found: the schema revision(s) recorded in the database.
        supported: the newest schema revision this PenguiFlow knows.
    """

    found: tuple[str, ...]
    supported: str

    def __init__(self, *, found: tuple[str, ...], supported: str) -> None:
        self._init_fields(
            f"the session database is at schema revision {', '.join(found)}, which this "
            f"PenguiFlow does not know (newest known: {supported}); it was migrated by a "
            "newer PenguiFlow: upgrade penguiflow here, or point the store at another database",
            found=tuple(found),
            supported=supported,
        )


class StoreStateError(_FieldsMixin, UsageError, RuntimeError):
    """The store is not open: call ``await store.setup()`` or use ``async with store``.

    Attributes:
        state: the store's state when the call was made (``unopened`` or ``closed``).
        operation: the method that was called.
    """

    state: str
    operation: str

    def __init__(self, *, state: str, operation: str) -> None:
        self._init_fields(
            f"SqlSessionStore.{operation}() needs an open store, but the store is {state}: "
            "call `await store.setup()` first or use `async with store:`",
            state=state,
            operation=operation,
        )


class StoreClosedError(StoreStateError):
    """The store was used after ``close()``; a closed store cannot be reopened."""

    def __init__(self, *, state: str = "closed", operation: str) -> None:
        self._init_fields(
            f"SqlSessionStore.{operation}() was called after close(); a closed store cannot "
            "be reopened: create a new SqlSessionStore",
            state=state,
            operation=operation,
        )


class UnserializableRecordError(_FieldsMixin, UsageError, TypeError):
    """A value given to the store is not plain JSON (dicts, lists, str, numbers, bools, None).

    Attributes:
        what: which argument was bad (``run state``, ``pause payload``, ...).
        detail: what the JSON encoder said.
    """

    what: str
    detail: str

    def __init__(self, *, what: str, detail: str) -> None:
        self._init_fields(
            f"the {what} must be plain JSON (dict/list/str/int/float/bool/None, no NaN): "
            f"{detail}; convert it first, e.g. with model.model_dump(mode='json')",
            what=what,
            detail=detail,
        )


class SessionStoreError(_FieldsMixin, RunError):
    """Base of every failure of the session store itself."""


class StoreBackendError(SessionStoreError):
    """The database failed while running an operation (connection lost, lock timeout).

    Attributes:
        operation: the store method that failed.
        detail: the driver's error type and message (no credentials).
    """

    operation: str
    detail: str

    def __init__(self, *, operation: str, detail: str) -> None:
        self._init_fields(
            f"session store operation {operation}() failed in the database: {detail}; "
            "nothing was committed, so the operation can be retried",
            operation=operation,
            detail=detail,
        )


class CorruptRecordError(SessionStoreError):
    """A stored record cannot be read back (bad JSON, wrong shape, or a newer format).

    Attributes:
        table: the table the record is in.
        record_id: the record's key.
        detail: why it could not be read.
    """

    table: str
    record_id: str
    detail: str

    def __init__(self, *, table: str, record_id: str, detail: str) -> None:
        self._init_fields(
            f"record {record_id!r} in table {table!r} cannot be read: {detail}; repair or "
            "delete that row (it was not written by this PenguiFlow version or was damaged)",
            table=table,
            record_id=record_id,
            detail=detail,
        )


class StaleVersionError(SessionStoreError):
    """Optimistic concurrency conflict: someone saved a newer version first.

    Reload the record (``get_run``/``load_memory``), re-apply the change and save again
    with the version you just loaded.

    Attributes:
        entity: what was saved (``run`` or ``memory``).
        key: the record's key.
        expected: the version the caller based its change on.
        actual: the version in the database (``None`` if it could not be read).
    """

    entity: str
    key: str
    expected: int
    actual: int | None

    def __init__(self, *, entity: str, key: str, expected: int, actual: int | None) -> None:
        self._init_fields(
            f"{entity} {key!r} was saved by someone else: expected version {expected}, "
            f"found {actual}; reload it and apply the change again",
            entity=entity,
            key=key,
            expected=expected,
            actual=actual,
        )


class RunNotFoundError(SessionStoreError, LookupError):
    """No run with this id exists for this tenant (or it was pruned).

    Attributes:
        run_id: the run id that was asked for.
    """

    run_id: str

    def __init__(self, *, run_id: str) -> None:
        self._init_fields(
            f"no run {run_id!r} in the session store for this tenant (unknown, another "
            "tenant's, or pruned)",
            run_id=run_id,
        )


class DuplicateRunError(SessionStoreError):
    """``create_run`` was given a ``run_id`` the tenant already uses.

    Attributes:
        run_id: the run id that is taken.
    """

    run_id: str

    def __init__(self, *, run_id: str) -> None:
        self._init_fields(
            f"a run {run_id!r} already exists; pass a new run_id or leave it out to get a "
            "generated one",
            run_id=run_id,
        )


class RunInUseError(SessionStoreError):
    """A run cannot be taken over: it is paused, or another process holds its lease.

    Attributes:
        run_id: the run.
        status: its status (``paused`` or ``running``).
        lease_until: when the current owner's lease ends (running runs).
    """

    run_id: str
    status: str
    lease_until: datetime | None

    def __init__(self, *, run_id: str, status: str, lease_until: datetime | None = None) -> None:
        if status == "paused":
            message = (
                f"run {run_id!r} is paused waiting for a human; continue it with "
                "planner.resume(token, ...)"
            )
        else:
            until = lease_until.isoformat() if lease_until is not None else "unknown"
            message = (
                f"run {run_id!r} is running in another process (its lease ends at {until}); "
                "wait for it to finish, or recover it once the lease has lapsed"
            )
        self._init_fields(message, run_id=run_id, status=status, lease_until=lease_until)


class RunLeaseLostError(SessionStoreError):
    """The process no longer owns the run: its lease lapsed and another process took it.

    The run is continued by its new owner; this process must stop working on it.

    Attributes:
        run_id: the run.
        owner_id: the owner that lost the run.
    """

    run_id: str
    owner_id: str

    def __init__(self, *, run_id: str, owner_id: str) -> None:
        self._init_fields(
            f"run {run_id!r} is no longer owned by {owner_id!r}: its lease lapsed and it was "
            "recovered by another process (or it ended); stop working on it",
            run_id=run_id,
            owner_id=owner_id,
        )


class PauseError(SessionStoreError):
    """Base of the pause/resume failures."""


class PauseNotFoundError(PauseError, LookupError):
    """No pause matches this token for this tenant.

    An unknown token, a pruned pause and another tenant's token all give this same error,
    so a caller learns nothing about other tenants.
    """

    def __init__(self) -> None:
        self._init_fields(
            "no pause matches this resume token for this tenant (unknown, pruned, or "
            "issued to another tenant); check the token and the tenant_id"
        )


class PauseExpiredError(PauseError):
    """The pause expired before anyone claimed it; it can no longer be resumed.

    Attributes:
        pause_id: the pause's id.
        run_id: the paused run.
        expired_at: when it expired.
    """

    pause_id: str
    run_id: str
    expired_at: datetime | None

    def __init__(self, *, pause_id: str, run_id: str, expired_at: datetime | None) -> None:
        self._init_fields(
            f"pause {pause_id} of run {run_id} expired at {expired_at} and can no longer be "
            "resumed; start a new run",
            pause_id=pause_id,
            run_id=run_id,
            expired_at=expired_at,
        )


class PauseLeaseLostError(PauseError):
    """The claim's lease expired and another process claimed the pause; stop working on it.

    Attributes:
        pause_id: the pause's id.
        run_id: the paused run.
    """

    pause_id: str
    run_id: str

    def __init__(self, *, pause_id: str, run_id: str) -> None:
        self._init_fields(
            f"the claim on pause {pause_id} of run {run_id} is no longer held (its lease "
            "expired and it was claimed again, or it was released); discard this resume",
            pause_id=pause_id,
            run_id=run_id,
        )


class PauseAlreadyClaimedError(PauseError):
    """Another resumer holds this pause right now (its lease has not expired).

    Attributes:
        pause_id: the pause's id.
        run_id: the paused run.
        lease_until: when the current holder's lease ends; after that, if it has not
            completed, the pause can be claimed again.
    """

    pause_id: str
    run_id: str
    lease_until: datetime | None

    def __init__(self, *, pause_id: str, run_id: str, lease_until: datetime | None) -> None:
        self._init_fields(
            f"pause {pause_id} of run {run_id} is being resumed by another process (lease "
            f"until {lease_until}); do not resume it twice",
            pause_id=pause_id,
            run_id=run_id,
            lease_until=lease_until,
        )


class PauseAlreadyResumedError(PauseAlreadyClaimedError):
    """The pause was already resumed and resolved; carries the stored outcome.

    Attributes:
        outcome: what the resumer recorded when it completed the pause (may be ``None``).
        resolved_at: when it was resolved.
    """

    outcome: dict[str, Any] | None
    resolved_at: datetime | None

    def __init__(
        self,
        *,
        pause_id: str,
        run_id: str,
        outcome: dict[str, Any] | None,
        resolved_at: datetime | None,
        lease_until: datetime | None = None,
    ) -> None:
        self._init_fields(
            f"pause {pause_id} of run {run_id} was already resumed (resolved at "
            f"{resolved_at}); its outcome is on this error's `outcome`",
            pause_id=pause_id,
            run_id=run_id,
            outcome=outcome,
            resolved_at=resolved_at,
            lease_until=lease_until,
        )


_RENAMED = {
    "PauseAlreadyClaimed": PauseAlreadyClaimedError,
    "PauseAlreadyResumed": PauseAlreadyResumedError,
    "PauseExpired": PauseExpiredError,
    "PauseLeaseLost": PauseLeaseLostError,
    "PauseNotFound": PauseNotFoundError,
}


def renamed_error(name: str) -> type[PauseError] | None:
    """Return the class an old error name stands for (warning that it is deprecated).

    Args:
        name: an attribute looked up on this module or on ``penguiflow.sessions``.

    Returns:
        The renamed class, or ``None`` when ``name`` is not an old error name.
    """
    cls = _RENAMED.get(name)
    if cls is not None:
        warnings.warn(
            f"{name} is deprecated; use {cls.__name__} (the same class)",
            DeprecationWarning,
            stacklevel=3,
        )
    return cls


def __getattr__(name: str) -> type[PauseError]:
    cls = renamed_error(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls
