"""``MemoryKey`` and how a run's key is found (explicitly or from ``tool_context``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .config import MemoryIsolation
from .errors import MemoryConfigError

__all__ = ["DEFAULT_KEY_PART", "MemoryKey", "derive_memory_key", "resolve_memory_key"]

DEFAULT_KEY_PART = "default"
"""The tenant or user used when ``require_explicit_key=False`` and none is given."""

_MAX_PART = 256


class MemoryKey(BaseModel):
    """Names one conversation's memory: a session of a user of a tenant.

    Memories of different keys never mix: a run sees only the memory of its own key.

    Attributes:
        tenant_id: the tenant.
        user_id: the user.
        session_id: the conversation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    user_id: str
    session_id: str

    def __init__(self, *, tenant_id: str, user_id: str, session_id: str) -> None:
        try:
            super().__init__(tenant_id=tenant_id, user_id=user_id, session_id=session_id)
        except ValidationError as exc:
            item = exc.errors()[0]
            field = ".".join(str(p) for p in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            raise MemoryConfigError(
                f"MemoryKey.{field}: {message} (got {item.get('input')!r})"
            ) from None

    @field_validator("tenant_id", "user_id", "session_id")
    @classmethod
    def _check_part(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("must be a non-empty string")
        if len(value) > _MAX_PART:
            raise ValueError(f"must be at most {_MAX_PART} characters")
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("must not contain control characters")
        return value

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.user_id}/{self.session_id}"

    def composite(self) -> str:
        """The key as one string, ``tenant:user:session`` (for dict keys and logs)."""
        return f"{self.tenant_id}:{self.user_id}:{self.session_id}"


def _lookup(context: Any, path: str) -> Any:
    current = context
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return None
            current = current[part]
        elif current is not None and not isinstance(current, str | bytes | int | float):
            current = getattr(current, part, None)
        else:
            return None
    return current


def _as_part(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_PART:
        if not any(ord(ch) < 32 for ch in value):
            return value
    return None


def derive_memory_key(
    tool_context: Mapping[str, Any] | None, isolation: MemoryIsolation
) -> MemoryKey | None:
    """Build a key from ``tool_context`` through the isolation's dotted paths.

    Values must be non-empty strings (integers are accepted and turned into strings).
    Anything else counts as missing.

    Args:
        tool_context: the run's tool context (a mapping; nested mappings or objects with
            attributes are followed).
        isolation: the paths and whether a complete key is required.

    Returns:
        The key, or ``None`` when it is incomplete: memory is then off for the run.
        With ``require_explicit_key=False`` a missing tenant or user becomes
        ``"default"``; a missing session still gives ``None``.
    """
    if tool_context is None:
        return None
    tenant = _as_part(_lookup(tool_context, isolation.tenant_key))
    user = _as_part(_lookup(tool_context, isolation.user_key))
    session = _as_part(_lookup(tool_context, isolation.session_key))
    if session is None:
        return None
    if tenant is None or user is None:
        if isolation.require_explicit_key:
            return None
        tenant = tenant or DEFAULT_KEY_PART
        user = user or DEFAULT_KEY_PART
    return MemoryKey(tenant_id=tenant, user_id=user, session_id=session)


def resolve_memory_key(
    *,
    memory_key: MemoryKey | Mapping[str, Any] | None,
    tool_context: Mapping[str, Any] | None,
    isolation: MemoryIsolation,
) -> MemoryKey | None:
    """Decide which memory a run uses: the explicit key first, else ``tool_context``.

    Args:
        memory_key: the key passed to the run (a ``MemoryKey`` or a mapping with
            ``tenant_id``, ``user_id`` and ``session_id``), or ``None``.
        tool_context: the run's tool context.
        isolation: the isolation settings.

    Returns:
        The key, or ``None`` when memory is off for the run (fail closed: never a
        shared key).

    Raises:
        MemoryConfigError: ``memory_key`` was given but is not a valid key.
    """
    if isinstance(memory_key, MemoryKey):
        return memory_key
    if memory_key is not None:
        if not isinstance(memory_key, Mapping):
            raise MemoryConfigError(
                "memory_key must be a MemoryKey or a mapping with tenant_id, user_id and "
                f"session_id; got {type(memory_key).__name__}"
            )
        missing = [k for k in ("tenant_id", "user_id", "session_id") if k not in memory_key]
        if missing:
            raise MemoryConfigError(
                f"memory_key is missing {', '.join(missing)}; give all three of tenant_id, "
                "user_id and session_id"
            )
        return MemoryKey(
            tenant_id=memory_key["tenant_id"],
            user_id=memory_key["user_id"],
            session_id=memory_key["session_id"],
        )
    return derive_memory_key(tool_context, isolation)
