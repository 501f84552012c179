"""The memory part of the store: one versioned JSON state per memory key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update

from penguiflow.errors import ConfigError

from ._codec import decode_dict, encode
from ._database import Database
from ._rows import check_id
from ._tables import memory
from .errors import StaleVersionError
from .models import MemoryKeyLike

__all__ = ["Memory"]


def _memory_key(key: MemoryKeyLike) -> tuple[str, str, str]:
    tenant = getattr(key, "tenant_id", None)
    if not isinstance(tenant, str) or not tenant:
        raise ConfigError(
            f"a memory key needs a non-empty tenant_id, got {tenant!r}; pass "
            "MemoryKey(tenant_id=..., user_id=..., session_id=...)"
        )
    parts = [tenant]
    for name in ("user_id", "session_id"):
        value = getattr(key, name, None)
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > 255:
            raise ConfigError(f"memory key {name} must be a str or None, got {value!r}")
        parts.append(value)
    check_id("tenant_id", tenant)
    return parts[0], parts[1], parts[2]


class Memory:
    """Conversation memory of a store (``store.memory``); a ``penguiflow.memory.MemoryStore``.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load_memory(self, key: MemoryKeyLike) -> tuple[dict[str, Any] | None, int]:
        """Load the memory state stored under ``key``.

        Returns:
            ``(state, version)``; ``(None, 0)`` when nothing is stored yet. Pass the version
            to :meth:`save_memory`.

        Raises:
            CorruptRecordError: the stored state cannot be read.
        """
        tenant, user, session = _memory_key(key)
        stmt = select(memory.c.state, memory.c.version).where(
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._db.transaction("load_memory", write=False) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None:
            return None, 0
        state = decode_dict(
            row.state, table="penguiflow_memory", record_id=f"{tenant}/{user}/{session}"
        )
        return state, int(row.version)

    async def save_memory(
        self, key: MemoryKeyLike, state: Mapping[str, Any], *, expected_version: int
    ) -> int:
        """Save the memory state under ``key`` if nobody saved it since ``expected_version``.

        Args:
            key: tenant, user and session of the memory.
            state: the new state (plain JSON object).
            expected_version: the version returned by :meth:`load_memory` (0 when new).

        Returns:
            The new version.

        Raises:
            StaleVersionError: another writer saved first; load again, merge, retry.
        """
        tenant, user, session = _memory_key(key)
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise ConfigError(f"expected_version must be an int, got {expected_version!r}")
        text = encode(dict(state), what="memory state")
        now = self._db.now()
        match = (
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._db.transaction("save_memory", write=True) as conn:
            if expected_version == 0:
                stmt: Any = (
                    self._db.insert(memory)
                    .values(
                        tenant_id=tenant,
                        user_id=user,
                        session_id=session,
                        state=text,
                        version=1,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "session_id"])
                )
            else:
                stmt = (
                    update(memory)
                    .where(*match, memory.c.version == expected_version)
                    .values(state=text, version=expected_version + 1, updated_at=now)
                )
            if (await conn.execute(stmt)).rowcount != 1:
                actual = (
                    await conn.execute(select(memory.c.version).where(*match))
                ).scalar_one_or_none()
                raise StaleVersionError(
                    entity="memory",
                    key=f"{tenant}/{user}/{session}",
                    expected=expected_version,
                    actual=0 if actual is None else actual,
                )
        return expected_version + 1

    async def delete_memory(self, key: MemoryKeyLike) -> bool:
        """Delete the memory stored under ``key``; return whether there was any."""
        tenant, user, session = _memory_key(key)
        stmt = delete(memory).where(
            memory.c.tenant_id == tenant,
            memory.c.user_id == user,
            memory.c.session_id == session,
        )
        async with self._db.transaction("delete_memory", write=True) as conn:
            return (await conn.execute(stmt)).rowcount > 0
