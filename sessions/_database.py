"""The session store's database: engine, lifecycle, schema, transactions, dialect.

One :class:`Database` is shared by every part of a ``SqlSessionStore`` (runs, pauses,
journal, memory, events, credentials). It is the only object that knows whether the
store is open, which backend it runs on and how a transaction is begun there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from penguiflow.errors import ConfigError

from ._tables import SCHEMA_HEAD, VERSION_TABLE
from .errors import StoreBackendError, StoreClosedError, StoreStateError
from .models import StoreState

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["DEFAULT_URL", "Database"]

DEFAULT_URL = "sqlite+aiosqlite:///penguiflow.sqlite3"
"""The default store: a SQLite file in the working directory."""

_WRITE_OPTION = "penguiflow_write"
# Any constant works; it only has to be the same in every process sharing a database.
_PG_MIGRATION_LOCK = 0x70656E67


def _normalise_url(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"SqlSessionStore url {url!r} is not a database URL ({exc}); use "
            "'sqlite+aiosqlite:///path/to/file.sqlite3' or "
            "'postgresql+asyncpg://user:password@host:5432/dbname'"
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    explicit_driver = "+" in parsed.drivername
    if backend == "sqlite":
        if explicit_driver and driver != "aiosqlite":
            raise ConfigError(f"SQLite driver {driver!r} is not async; use 'sqlite+aiosqlite'")
        parsed = parsed.set(drivername="sqlite+aiosqlite")
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise ConfigError(
                "SqlSessionStore needs a SQLite file, not an in-memory database (its "
                "connections would share one transaction); use "
                "'sqlite+aiosqlite:///path/to/file.sqlite3' (a temporary file in tests)"
            )
    elif backend == "postgresql":
        if explicit_driver and driver != "asyncpg":
            raise ConfigError(
                f"PostgreSQL driver {driver!r} is not supported; use 'postgresql+asyncpg://...'"
            )
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigError(
            f"SqlSessionStore supports SQLite and PostgreSQL, got the {backend!r} URL "
            f"{parsed.render_as_string(hide_password=True)!r}; use 'sqlite+aiosqlite:///...' "
            "or 'postgresql+asyncpg://...'"
        )
    return parsed


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """Let SQLAlchemy emit BEGIN itself, ``BEGIN IMMEDIATE`` for writes.

    Writers then queue on the busy timeout instead of failing with a lock-upgrade
    deadlock (two deferred transactions that both read, then both try to write).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    message = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {message}" if message else type(inner).__name__


class Database:
    """Owns one store's engine and lifecycle; runs every operation in one transaction.

    Lifecycle: ``unopened`` -> :meth:`setup` -> ``open`` -> :meth:`close` -> ``closed``.
    An engine passed in is used as it is and never disposed; an engine the database
    created itself is disposed by :meth:`close`.

    Args:
        url: the database URL (``sqlite://`` and ``postgresql://`` are mapped to their
            async drivers). Ignored when ``engine`` is given.
        engine: an existing ``AsyncEngine`` to use.
        pool_size: connections kept in the pool.
        max_overflow: extra connections opened under load.
        pool_timeout_s: how long to wait for a free connection.
        sqlite_busy_timeout_s: how long a SQLite writer waits for the write lock.
        echo: log every SQL statement.
        clock: returns the current UNIX time in seconds (``time.time`` when ``None``).

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
        for name, value in (("pool_size", pool_size), ("max_overflow", max_overflow)):
            if value < 0:
                raise ConfigError(f"SqlSessionStore {name} must be >= 0, got {value}")
        for name, seconds in (
            ("pool_timeout_s", pool_timeout_s),
            ("sqlite_busy_timeout_s", sqlite_busy_timeout_s),
        ):
            if not seconds > 0:
                raise ConfigError(f"SqlSessionStore {name} must be > 0, got {seconds}")
        self._url = _normalise_url(engine.url if engine is not None else url)
        self._given_engine = engine
        self._engine: AsyncEngine | None = None
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._pool_timeout_s = pool_timeout_s
        self._busy_timeout_s = sqlite_busy_timeout_s
        self._echo = echo
        self._clock: Callable[[], float] = clock or time.time
        self._state = StoreState.UNOPENED
        self._setup_lock = asyncio.Lock()
        self._sqlite = self._url.get_backend_name() == "sqlite"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def state(self) -> StoreState:
        """The lifecycle state (unopened, open, closed)."""
        return self._state

    @property
    def dialect(self) -> str:
        """The database backend: ``sqlite`` or ``postgresql``."""
        return self._url.get_backend_name()

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def owns_open_engine(self) -> bool:
        """``True`` while open on an engine this database created (``close()`` is owed)."""
        return self._state is StoreState.OPEN and self._given_engine is None

    def engine(self, operation: str = "engine") -> AsyncEngine:
        """Return the engine of an open database.

        Args:
            operation: the caller's name, for the error message.

        Raises:
            StoreStateError: :meth:`setup` was not called yet.
            StoreClosedError: the database was closed.
        """
        if self._state is StoreState.OPEN and self._engine is not None:
            return self._engine
        if self._state is StoreState.CLOSED:
            raise StoreClosedError(operation=operation)
        raise StoreStateError(state=self._state.value, operation=operation)

    async def setup(self) -> None:
        """Connect, then create or upgrade the schema in place (once; later calls return).

        Raises:
            SchemaVersionError: the database was migrated by a newer PenguiFlow.
            StoreClosedError: the database was closed.
            StoreBackendError: the database could not be reached.
        """
        async with self._setup_lock:
            if self._state is StoreState.OPEN:
                return
            if self._state is StoreState.CLOSED:
                raise StoreClosedError(operation="setup")
            engine = self._given_engine or self._create_engine()
            try:
                await self._migrate(engine)
            except BaseException:
                if self._given_engine is None:
                    await engine.dispose()
                raise
            self._engine = engine
            self._state = StoreState.OPEN

    async def close(self) -> None:
        """Close, disposing the engine unless it was passed in; harmless to repeat."""
        async with self._setup_lock:
            engine, self._engine = self._engine, None
            self._state = StoreState.CLOSED
            if engine is not None and self._given_engine is None:
                await engine.dispose()

    def _create_engine(self) -> AsyncEngine:
        kwargs: dict[str, Any] = {
            "pool_pre_ping": True,
            "pool_size": self._pool_size,
            "max_overflow": self._max_overflow,
            "pool_timeout": self._pool_timeout_s,
            "echo": self._echo,
        }
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": self._busy_timeout_s}
        engine = create_async_engine(self._url, **kwargs)
        if self._sqlite:
            _install_sqlite_hooks(engine)
        return engine

    async def _schema_is_current(self, engine: AsyncEngine) -> bool:
        """Fast path: the schema is at our head, so alembic need not even be imported."""
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
                return list(result.scalars()) == [SCHEMA_HEAD]
        except (SQLAlchemyError, OSError):
            return False  # no version table yet, or unreachable: the full path reports it

    async def _migrate(self, engine: AsyncEngine) -> None:
        if await self._schema_is_current(engine):
            return
        from . import _migrate  # alembic is imported only when a migration may be needed

        try:
            async with engine.connect() as conn:
                await conn.execution_options(**{_WRITE_OPTION: True})
                async with conn.begin():
                    if not self._sqlite:
                        await conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _PG_MIGRATION_LOCK},
                        )
                    await conn.run_sync(_migrate.upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreBackendError(operation="setup", detail=_describe(exc)) from exc

    # -- what the parts use --------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self, operation: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """Run the block in one transaction; database failures become StoreBackendError.

        Args:
            operation: the store method running, for errors.
            write: the block writes (on SQLite the transaction then takes the write lock
                at once, so concurrent writers queue instead of deadlocking).

        Raises:
            StoreStateError: the database is not open.
            StoreBackendError: the database failed; nothing was committed.
        """
        engine = self.engine(operation)
        try:
            async with engine.connect() as conn:
                if write and self._sqlite:
                    await conn.execution_options(**{_WRITE_OPTION: True})
                async with conn.begin():
                    yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise StoreBackendError(operation=operation, detail=_describe(exc)) from exc

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT into ``table`` that supports this backend's ``on_conflict_do_*``."""
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def now(self) -> float:
        """The current UNIX time in seconds, from the store's clock."""
        return self._clock()
