"""``SqlSessionStore``: runs, pauses, tool journal, memory and events in one SQL database."""

from __future__ import annotations

from ._core import DEFAULT_URL
from ._credentials import CredentialsMixin
from ._events import EventsMixin
from ._journal import JournalMemoryMixin
from ._repause import RepauseMixin

__all__ = ["DEFAULT_URL", "SqlSessionStore"]


class SqlSessionStore(RepauseMixin, JournalMemoryMixin, EventsMixin, CredentialsMixin):
    """A durable session store on SQLAlchemy's asyncio engine (SQLite or PostgreSQL).

    One store serves planners (runs, pauses, tool journal, memory) and flows (it
    implements the runtime's ``StateStore`` protocol: ``save_event``, ``load_history``,
    ``save_remote_binding``).

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
    """
