"""Per-user credentials and pending OAuth authorisations (used by ``oauth2_user`` tools).

The store keeps what the tools package gives it: credential ``secret``s and state ``data``
arrive already encrypted, and OAuth ``state`` values arrive as SHA-256 hashes, so the
database never holds a token or a state in clear. A state is consumed exactly once: one
conditional ``UPDATE ... WHERE used_at IS NULL AND expires_at > now`` decides.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, delete, insert, select, update

from ._database import Database
from ._rows import check_id
from ._tables import oauth_states, user_credentials

__all__ = ["Credentials", "OAuthStateRecord", "UserCredentialRecord"]


class UserCredentialRecord(BaseModel):
    """A stored credential of one user for one provider.

    Attributes:
        tenant_id: the user's tenant.
        user_id: the user.
        provider: the provider (the tool config's name, or its ``provider``).
        secret: the credential as written by the caller (ciphertext for OAuth tokens).
        expires_at: UNIX time the access token expires, when known.
        updated_at: UNIX time of the last save.
    """

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    user_id: str
    provider: str
    secret: str
    expires_at: float | None
    updated_at: float

    def __repr__(self) -> str:
        return (
            f"UserCredentialRecord(tenant_id={self.tenant_id!r}, user_id={self.user_id!r}, "
            f"provider={self.provider!r}, expires_at={self.expires_at!r})"
        )

    __str__ = __repr__


class OAuthStateRecord(BaseModel):
    """A pending OAuth authorisation, as :meth:`Credentials.consume_oauth_state` saw it.

    Attributes:
        tenant_id: the tenant the authorisation was started for.
        user_id: the user it was started for.
        run_id: the run that needed it (``None`` outside a run).
        provider: the provider it authorises.
        data: the caller's data (ciphertext: the PKCE verifier).
        expires_at: UNIX time after which the state is refused.
        outcome: ``ok`` (consumed now), ``used`` (consumed before) or ``expired``.
    """

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    user_id: str
    run_id: str | None
    provider: str
    data: str
    expires_at: float
    outcome: Literal["ok", "used", "expired"]


class Credentials:
    """Per-user credentials of a store (``store.credentials``); a ``CredentialStore``.

    It is what ``ToolNode(config, credential_store=...)`` needs for ``oauth2_user`` tools.

    Args:
        db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_user_credential(
        self,
        *,
        tenant_id: str,
        user_id: str,
        provider: str,
        secret: str,
        expires_at: float | None = None,
    ) -> None:
        """Create or replace the credential of ``user_id`` for ``provider``.

        Args:
            tenant_id: the user's tenant.
            user_id: the user.
            provider: the provider name.
            secret: the credential to keep (encrypt it first; it is stored as given).
            expires_at: UNIX time the credential expires, if known.
        """
        for name, value in (("tenant_id", tenant_id), ("user_id", user_id)):
            check_id(name, value)
        check_id("provider", provider)
        if not isinstance(secret, str) or not secret:
            raise TypeError("save_user_credential(secret=...) must be a non-empty str")
        now = self._db.now()
        values = {"secret": secret, "expires_at": expires_at, "updated_at": now}
        async with self._db.transaction("save_user_credential", write=True) as conn:
            stmt = (
                self._db.insert(user_credentials)
                .values(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    provider=provider,
                    created_at=now,
                    **values,
                )
                .on_conflict_do_update(
                    index_elements=["tenant_id", "user_id", "provider"], set_=values
                )
            )
            await conn.execute(stmt)

    async def load_user_credential(
        self, *, tenant_id: str, user_id: str, provider: str
    ) -> UserCredentialRecord | None:
        """Return the credential of ``user_id`` for ``provider``, or ``None``."""
        c = user_credentials.c
        query = select(user_credentials).where(
            c.tenant_id == tenant_id, c.user_id == user_id, c.provider == provider
        )
        async with self._db.transaction("load_user_credential", write=False) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return UserCredentialRecord(
            tenant_id=row.tenant_id,
            user_id=row.user_id,
            provider=row.provider,
            secret=row.secret,
            expires_at=row.expires_at,
            updated_at=row.updated_at,
        )

    async def delete_user_credential(self, *, tenant_id: str, user_id: str, provider: str) -> bool:
        """Forget the credential of ``user_id`` for ``provider``; return whether one existed."""
        c = user_credentials.c
        async with self._db.transaction("delete_user_credential", write=True) as conn:
            result = await conn.execute(
                delete(user_credentials).where(
                    c.tenant_id == tenant_id, c.user_id == user_id, c.provider == provider
                )
            )
        return bool(result.rowcount)

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
        """Record a pending authorisation under the hash of its ``state`` parameter.

        Expired states are removed on the way.
        """
        check_id("state_hash", state_hash, max_len=64)
        for name, value in (("tenant_id", tenant_id), ("user_id", user_id)):
            check_id(name, value)
        now = self._db.now()
        async with self._db.transaction("create_oauth_state", write=True) as conn:
            await conn.execute(delete(oauth_states).where(oauth_states.c.expires_at < now - 3600))
            await conn.execute(
                insert(oauth_states).values(
                    state_hash=state_hash,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    run_id=run_id,
                    provider=provider,
                    data=data,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    async def consume_oauth_state(self, state_hash: str) -> OAuthStateRecord | None:
        """Use a pending authorisation; exactly one caller ever gets ``outcome == "ok"``.

        Returns:
            The record (``outcome`` says whether it was consumed now, before, or had
            expired), or ``None`` for an unknown state.
        """
        c = oauth_states.c
        now = self._db.now()
        async with self._db.transaction("consume_oauth_state", write=True) as conn:
            row = (
                await conn.execute(select(oauth_states).where(c.state_hash == state_hash))
            ).first()
            if row is None:
                return None
            claimed = await conn.execute(
                update(oauth_states)
                .where(and_(c.state_hash == state_hash, c.used_at.is_(None), c.expires_at > now))
                .values(used_at=now)
            )
        outcome: Literal["ok", "used", "expired"] = "ok"
        if claimed.rowcount != 1:
            outcome = "expired" if row.used_at is None and row.expires_at <= now else "used"
        return OAuthStateRecord(
            tenant_id=row.tenant_id,
            user_id=row.user_id,
            run_id=row.run_id,
            provider=row.provider,
            data=row.data,
            expires_at=row.expires_at,
            outcome=outcome,
        )
