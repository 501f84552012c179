"""``SqlSessionStore``: runs, pauses, tool journal, memory and events in one SQL database."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Self

from ._credentials import Credentials, OAuthStateRecord, UserCredentialRecord
from ._database import DEFAULT_URL, Database
from ._events import Events
from ._journal import Journal
from ._memory import Memory
from ._pauses import Pauses
from ._retention import prune
from ._runs import Runs
from .models import (
    DEFAULT_TENANT,
    JournalBegin,
    JournalEntry,
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
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

    from penguiflow.state import RemoteBinding, StateStore, StoredEvent

    from .protocol import JournalStore, PauseStore, RunStore, SessionStore

__all__ = ["DEFAULT_URL", "SqlSessionStore"]


class SqlSessionStore:
    """A durable session store on SQLAlchemy's asyncio engine (SQLite or PostgreSQL).

    One store serves planners (it is a :class:`~penguiflow.sessions.SessionStore` and a
    ``penguiflow.memory.MemoryStore``), flows (a :class:`penguiflow.StateStore`) and
    ``oauth2_user`` tools (a ``penguiflow.tools.CredentialStore``).

    It is made of parts sharing one database, each a narrower store of its own that can
    be handed out alone: :attr:`runs`, :attr:`pauses`, :attr:`journal`, :attr:`memory`,
    :attr:`events` and :attr:`credentials`. The store's methods call them; the parts'
    methods have the same names and signatures.

    Use ``sqlite+aiosqlite:///file.sqlite3`` (the default, ``penguiflow.sqlite3`` in the
    working directory) for one machine, and ``postgresql+asyncpg://user:pw@host/db`` when
    several processes or machines share the store. Connections are pooled and checked
    before use (pre-ping), so a database restart or an idle disconnect is survived.

    Lifecycle: ``unopened`` -> ``setup()`` -> ``open`` -> ``close()`` -> ``closed``.
    ``async with SqlSessionStore(url) as store:`` does both. Calls on a store that is not
    open raise :class:`~penguiflow.sessions.StoreStateError` /
    :class:`~penguiflow.sessions.StoreClosedError`.

    Args:
        url: the database URL (``sqlite://`` and ``postgresql://`` are mapped to their
            async drivers). Ignored when ``engine`` is given.
        engine: an existing ``AsyncEngine`` to use; the store does not dispose it.
        pool_size: connections kept in the pool.
        max_overflow: extra connections opened under load.
        pool_timeout_s: how long to wait for a free connection.
        sqlite_busy_timeout_s: how long a SQLite writer waits for the write lock.
        echo: log every SQL statement (debugging).
        clock: returns the current UNIX time in seconds; inject one in tests. Expiry and
            leases compare against it, so every process sharing a database needs a
            synchronised clock.

    Raises:
        ConfigError: a bad URL or option.
    """

    def __init__(
        self,
        url: str | URL = DEFAULT_URL,
        *,
        engine: AsyncEngine | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout_s: float = 30.0,
        sqlite_busy_timeout_s: float = 30.0,
        echo: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        db = Database(
            url,
            engine=engine,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout_s=pool_timeout_s,
            sqlite_busy_timeout_s=sqlite_busy_timeout_s,
            echo=echo,
            clock=clock,
        )
        self._db = db
        self.runs: Final = Runs(db)
        """Runs and sessions (a :class:`~penguiflow.sessions.RunStore`)."""
        self.pauses: Final = Pauses(db)
        """Pauses and their claims (a :class:`~penguiflow.sessions.PauseStore`)."""
        self.journal: Final = Journal(db)
        """The tool-call journal (a :class:`~penguiflow.sessions.JournalStore`)."""
        self.memory: Final = Memory(db)
        """Conversation memory (a ``penguiflow.memory.MemoryStore``)."""
        self.events: Final = Events(db)
        """Flow events and remote bindings (a :class:`penguiflow.StateStore`)."""
        self.credentials: Final = Credentials(db)
        """Per-user credentials and OAuth states (a ``penguiflow.tools.CredentialStore``)."""

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def state(self) -> StoreState:
        """The store's lifecycle state (unopened, open, closed)."""
        return self._db.state

    @property
    def dialect(self) -> str:
        """The database backend: ``sqlite`` or ``postgresql``."""
        return self._db.dialect

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._db.url

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine of an open store, for your own queries or maintenance.

        Raises:
            StoreStateError: the store is not open yet.
            StoreClosedError: the store was closed.
        """
        return self._db.engine("engine")

    def __repr__(self) -> str:
        return f"SqlSessionStore(url={self.url!r}, state={self.state.value!r})"

    def __del__(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None and db.owns_open_engine:
            warnings.warn(
                f"{self!r} was garbage-collected while open; call `await store.close()` "
                "or use `async with store:`",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    async def setup(self) -> None:
        """Open the store: connect, then create or upgrade the schema in place.

        Safe to call again on an open store (it returns at once) and from several
        processes at the same time (migrations are serialised by a database lock).

        Raises:
            SchemaVersionError: the database was migrated by a newer PenguiFlow.
            StoreClosedError: the store was closed.
            StoreBackendError: the database could not be reached.
        """
        await self._db.setup()

    async def close(self) -> None:
        """Close the store and its connection pool (an engine passed in is left open).

        Calling it again, or on a store never set up, is harmless.
        """
        await self._db.close()

    async def __aenter__(self) -> Self:
        await self.setup()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- runs (self.runs) ------------------------------------------------------------------

    async def create_run(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        session_id: str | None = None,
        user_id: str | None = None,
        state: Mapping[str, Any] | None = None,
        status: RunStatus = RunStatus.RUNNING,
        run_id: str | None = None,
        owner_id: str | None = None,
        lease_s: float = 30.0,
    ) -> RunRecord:
        """Create a run (version 1); see ``store.runs.create_run``."""
        return await self.runs.create_run(
            tenant_id=tenant_id,
            session_id=session_id,
            user_id=user_id,
            state=state,
            status=status,
            run_id=run_id,
            owner_id=owner_id,
            lease_s=lease_s,
        )

    async def get_run(self, run_id: str, *, tenant_id: str | None = None) -> RunRecord:
        """Return a run; see ``store.runs.get_run``."""
        return await self.runs.get_run(run_id, tenant_id=tenant_id)

    async def save_run(
        self,
        run_id: str,
        *,
        state: Mapping[str, Any] | None,
        status: RunStatus,
        expected_version: int,
        tenant_id: str | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Save a run if it is still at ``expected_version``; see ``store.runs.save_run``."""
        return await self.runs.save_run(
            run_id,
            state=state,
            status=status,
            expected_version=expected_version,
            tenant_id=tenant_id,
            error=error,
        )

    async def claim_run(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> RunRecord:
        """Take a run over to continue it; see ``store.runs.claim_run``."""
        return await self.runs.claim_run(
            run_id, tenant_id=tenant_id, owner_id=owner_id, lease_s=lease_s
        )

    async def renew_run_lease(
        self, run_id: str, *, tenant_id: str, owner_id: str, lease_s: float = 30.0
    ) -> datetime:
        """Extend an owner's lease on a running run; see ``store.runs.renew_run_lease``."""
        return await self.runs.renew_run_lease(
            run_id, tenant_id=tenant_id, owner_id=owner_id, lease_s=lease_s
        )

    async def recover_stale_runs(
        self,
        *,
        owner_id: str,
        lease_s: float = 30.0,
        tenant_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Take over runs whose owner died, exactly once; see ``store.runs``."""
        return await self.runs.recover_stale_runs(
            owner_id=owner_id, lease_s=lease_s, tenant_id=tenant_id, limit=limit
        )

    async def list_runs(
        self,
        *,
        tenant_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        status: RunStatus | Iterable[RunStatus] | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """List runs, most recently saved first; see ``store.runs.list_runs``."""
        return await self.runs.list_runs(
            tenant_id=tenant_id, session_id=session_id, user_id=user_id, status=status, limit=limit
        )

    async def list_sessions(
        self, *, tenant_id: str = DEFAULT_TENANT, user_id: str | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        """List a tenant's sessions; see ``store.runs.list_sessions``."""
        return await self.runs.list_sessions(tenant_id=tenant_id, user_id=user_id, limit=limit)

    # -- pauses (self.pauses) --------------------------------------------------------------

    async def create_pause(
        self,
        run_id: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Commit the run's state and a new pause at once; see ``store.pauses.create_pause``."""
        return await self.pauses.create_pause(
            run_id,
            tenant_id=tenant_id,
            reason=reason,
            payload=payload,
            pending_calls=pending_calls,
            expires_at=expires_at,
            run_state=run_state,
            expected_run_version=expected_run_version,
        )

    async def get_pause(self, token: str, *, tenant_id: str = DEFAULT_TENANT) -> PauseRecord:
        """Return the pause of a resume token; see ``store.pauses.get_pause``."""
        return await self.pauses.get_pause(token, tenant_id=tenant_id)

    async def get_pause_by_id(self, pause_id: str, *, tenant_id: str | None = None) -> PauseRecord:
        """Return a pause by its id; see ``store.pauses.get_pause_by_id``."""
        return await self.pauses.get_pause_by_id(pause_id, tenant_id=tenant_id)

    async def list_pauses(
        self,
        *,
        tenant_id: str | None = None,
        status: PauseStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[PauseRecord]:
        """List pauses, newest first; see ``store.pauses.list_pauses``."""
        return await self.pauses.list_pauses(
            tenant_id=tenant_id, status=status, run_id=run_id, limit=limit
        )

    async def claim_pause(
        self,
        token: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        decision: Mapping[str, Any] | None = None,
        lease_s: float = 300.0,
    ) -> PauseClaim:
        """Claim a pause exactly once among all processes; see ``store.pauses.claim_pause``."""
        return await self.pauses.claim_pause(
            token, tenant_id=tenant_id, decision=decision, lease_s=lease_s
        )

    async def renew_lease(self, claim: PauseClaim, *, lease_s: float = 300.0) -> datetime:
        """Extend a claim's lease; see ``store.pauses.renew_lease``."""
        return await self.pauses.renew_lease(claim, lease_s=lease_s)

    async def release_pause(self, claim: PauseClaim) -> PauseRecord:
        """Give a claimed pause back; see ``store.pauses.release_pause``."""
        return await self.pauses.release_pause(claim)

    async def complete_pause(
        self,
        claim: PauseClaim,
        *,
        run_state: Mapping[str, Any],
        run_status: RunStatus,
        expected_run_version: int,
        outcome: Mapping[str, Any] | None = None,
        owner_id: str | None = None,
        lease_s: float = 30.0,
    ) -> RunRecord:
        """Resolve a claimed pause and save its run; see ``store.pauses.complete_pause``."""
        return await self.pauses.complete_pause(
            claim,
            run_state=run_state,
            run_status=run_status,
            expected_run_version=expected_run_version,
            outcome=outcome,
            owner_id=owner_id,
            lease_s=lease_s,
        )

    async def repause(
        self,
        claim: PauseClaim,
        *,
        outcome: Mapping[str, Any] | None = None,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Resolve a claimed pause and open the next; see ``store.pauses.repause``."""
        return await self.pauses.repause(
            claim,
            outcome=outcome,
            reason=reason,
            payload=payload,
            pending_calls=pending_calls,
            expires_at=expires_at,
            run_state=run_state,
            expected_run_version=expected_run_version,
        )

    # -- tool-call journal (self.journal) --------------------------------------------------

    async def journal_begin(
        self,
        run_id: str,
        call_hash: str,
        *,
        tool: str,
        args: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalBegin:
        """Record that a tool call starts; see ``store.journal.journal_begin``."""
        return await self.journal.journal_begin(
            run_id, call_hash, tool=tool, args=args, tenant_id=tenant_id
        )

    async def journal_complete(
        self, run_id: str, call_hash: str, *, result: Any, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry:
        """Record a tool call's result; see ``store.journal.journal_complete``."""
        return await self.journal.journal_complete(
            run_id, call_hash, result=result, tenant_id=tenant_id
        )

    async def journal_fail(
        self,
        run_id: str,
        call_hash: str,
        *,
        error: Mapping[str, Any],
        tenant_id: str = DEFAULT_TENANT,
    ) -> JournalEntry:
        """Record that a tool call failed; see ``store.journal.journal_fail``."""
        return await self.journal.journal_fail(run_id, call_hash, error=error, tenant_id=tenant_id)

    async def journal_get(
        self, run_id: str, call_hash: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> JournalEntry | None:
        """Return a journal entry, or ``None``; see ``store.journal.journal_get``."""
        return await self.journal.journal_get(run_id, call_hash, tenant_id=tenant_id)

    # -- conversation memory (self.memory) -------------------------------------------------

    async def load_memory(self, key: MemoryKeyLike) -> tuple[dict[str, Any] | None, int]:
        """Load ``(state, version)`` of a memory key; see ``store.memory.load_memory``."""
        return await self.memory.load_memory(key)

    async def save_memory(
        self, key: MemoryKeyLike, state: Mapping[str, Any], *, expected_version: int
    ) -> int:
        """Save a memory state if unchanged since ``expected_version``; see ``store.memory``."""
        return await self.memory.save_memory(key, state, expected_version=expected_version)

    async def delete_memory(self, key: MemoryKeyLike) -> bool:
        """Delete a memory key's state; see ``store.memory.delete_memory``."""
        return await self.memory.delete_memory(key)

    # -- events (self.events) and retention ------------------------------------------------

    async def save_event(self, event: StoredEvent) -> None:
        """Persist one flow or planner event; see ``store.events.save_event``."""
        await self.events.save_event(event)

    async def load_history(self, trace_id: str) -> list[StoredEvent]:
        """Return a trace's events in the order saved; see ``store.events.load_history``."""
        return await self.events.load_history(trace_id)

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Persist a trace's link to a remote task; see ``store.events``."""
        await self.events.save_remote_binding(binding)

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return a trace's remote bindings; see ``store.events.load_remote_bindings``."""
        return await self.events.load_remote_bindings(trace_id)

    async def prune(self, *, older_than: timedelta) -> PruneResult:
        """Delete finished runs, stale pauses and old events at once; see ``_retention.prune``.

        Running and paused runs, live pauses, sessions and conversation memory are kept.
        """
        return await prune(self._db, older_than=older_than)

    # -- per-user credentials (self.credentials) -------------------------------------------

    async def save_user_credential(
        self,
        *,
        tenant_id: str,
        user_id: str,
        provider: str,
        secret: str,
        expires_at: float | None = None,
    ) -> None:
        """Create or replace a user's credential; see ``store.credentials``."""
        await self.credentials.save_user_credential(
            tenant_id=tenant_id,
            user_id=user_id,
            provider=provider,
            secret=secret,
            expires_at=expires_at,
        )

    async def load_user_credential(
        self, *, tenant_id: str, user_id: str, provider: str
    ) -> UserCredentialRecord | None:
        """Return a user's credential, or ``None``; see ``store.credentials``."""
        return await self.credentials.load_user_credential(
            tenant_id=tenant_id, user_id=user_id, provider=provider
        )

    async def delete_user_credential(self, *, tenant_id: str, user_id: str, provider: str) -> bool:
        """Forget a user's credential; see ``store.credentials``."""
        return await self.credentials.delete_user_credential(
            tenant_id=tenant_id, user_id=user_id, provider=provider
        )

    async def create_oauth_state(
        self,
        *,
        state_hash: str,
        tenant_id: str,
        user_id: str,
        run_id: str | None,
        provider: str,
        data: str,
        expires_at: float,
    ) -> None:
        """Record a pending OAuth authorisation; see ``store.credentials``."""
        await self.credentials.create_oauth_state(
            state_hash=state_hash,
            tenant_id=tenant_id,
            user_id=user_id,
            run_id=run_id,
            provider=provider,
            data=data,
            expires_at=expires_at,
        )

    async def consume_oauth_state(self, state_hash: str) -> OAuthStateRecord | None:
        """Use a pending authorisation exactly once; see ``store.credentials``."""
        return await self.credentials.consume_oauth_state(state_hash)


if TYPE_CHECKING:
    # mypy --strict checks these: the store and each part implement their protocols.

    def _store_implements(store: SqlSessionStore) -> tuple[SessionStore, StateStore]:
        return store, store

    def _parts_implement(
        store: SqlSessionStore,
    ) -> tuple[RunStore, PauseStore, JournalStore, StateStore]:
        return store.runs, store.pauses, store.journal, store.events
