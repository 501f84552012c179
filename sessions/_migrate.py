"""Apply the packaged alembic revisions programmatically (no alembic.ini, no env.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._tables import VERSION_TABLE
from .errors import SchemaVersionError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["MIGRATIONS_DIR", "current_revisions", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _script() -> ScriptDirectory:
    return ScriptDirectory(
        str(MIGRATIONS_DIR), version_locations=[str(MIGRATIONS_DIR / "versions")]
    )


def head_revision() -> str:
    """Return the newest schema revision this PenguiFlow ships."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("the session store ships no schema migrations")
    return head


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """Return the schema revision(s) recorded in the database (empty if none)."""
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return tuple(ctx.get_current_heads())


def upgrade(connection: Connection, target: str = "head") -> None:
    """Upgrade the schema on ``connection`` to ``target`` inside the caller's transaction.

    Args:
        connection: a synchronous connection already inside a transaction.
        target: the revision to reach (``head`` by default; tests use older ones).

    Raises:
        SchemaVersionError: the database records a revision this PenguiFlow does not know
            (it was migrated by a newer version).
    """
    script = _script()
    current = current_revisions(connection)
    known = {rev.revision for rev in script.walk_revisions()}
    if any(rev not in known for rev in current):
        raise SchemaVersionError(found=current, supported=head_revision())

    def _steps(rev: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs(target, rev)

    with EnvironmentContext(Config(), script, fn=_steps, destination_rev=target) as env:
        env.configure(connection=connection, version_table=VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()
