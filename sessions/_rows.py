"""Turn database rows into records, and check ids given by callers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from penguiflow.errors import ConfigError

from ._codec import (
    decode,
    decode_dict,
    decode_optional_dict,
    to_datetime,
    to_datetime_required,
)
from .errors import CorruptRecordError
from .models import (
    JournalEntry,
    JournalStatus,
    PauseRecord,
    PauseStatus,
    RunRecord,
    RunStatus,
    SessionRecord,
)

__all__ = [
    "check_id",
    "check_json_objects",
    "check_positive",
    "journal_from_row",
    "pause_from_row",
    "run_from_row",
    "session_from_row",
]


def check_id(name: str, value: object, *, max_len: int = 255) -> str:
    """Return ``value`` if it is a usable id (non-empty str up to ``max_len`` chars)."""
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ConfigError(
            f"{name} must be a non-empty string of at most {max_len} characters, got {value!r}"
        )
    return value


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def check_json_objects(name: str, values: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return ``values`` as a list of dicts, refusing anything that is not a mapping."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ConfigError(f"{name} must be a sequence of JSON objects, got {type(values).__name__}")
    result = []
    for i, item in enumerate(values):
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{name}[{i}] must be a JSON object (mapping), got {type(item).__name__}"
            )
        result.append(dict(item))
    return result


def _enum(enum_type: type[Any], value: str, *, table: str, record_id: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        raise CorruptRecordError(
            table=table, record_id=record_id, detail=f"unknown status {value!r}"
        ) from None


def session_from_row(row: Any) -> SessionRecord:
    """Build a :class:`SessionRecord` from a ``penguiflow_sessions`` row."""
    return SessionRecord(
        tenant_id=row.tenant_id,
        session_id=row.session_id,
        user_id=row.user_id,
        created_at=to_datetime_required(row.created_at),
        updated_at=to_datetime_required(row.updated_at),
    )


def run_from_row(row: Any) -> RunRecord:
    """Build a :class:`RunRecord` from a ``penguiflow_runs`` row."""
    table = "penguiflow_runs"
    return RunRecord(
        run_id=row.run_id,
        tenant_id=row.tenant_id,
        session_id=row.session_id,
        user_id=row.user_id,
        status=_enum(RunStatus, row.status, table=table, record_id=row.run_id),
        state=decode_dict(row.state, table=table, record_id=row.run_id),
        version=row.version,
        created_at=to_datetime_required(row.created_at),
        updated_at=to_datetime_required(row.updated_at),
        owner_id=row.owner_id,
        lease_until=to_datetime(row.lease_until),
        error=row.error,
    )


def pause_from_row(row: Any, *, now: float) -> PauseRecord:
    """Build a :class:`PauseRecord`; a pending pause past ``expires_at`` reads as expired."""
    table, key = "penguiflow_pauses", row.pause_id
    status: PauseStatus = _enum(PauseStatus, row.status, table=table, record_id=key)
    if status is PauseStatus.PENDING and row.expires_at is not None and row.expires_at <= now:
        status = PauseStatus.EXPIRED
    calls = decode(row.pending_calls, table=table, record_id=key)
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise CorruptRecordError(
            table=table, record_id=key, detail="pending_calls is not a list of JSON objects"
        )
    return PauseRecord(
        pause_id=key,
        run_id=row.run_id,
        tenant_id=row.tenant_id,
        reason=row.reason,
        payload=decode_optional_dict(row.payload, table=table, record_id=key),
        pending_calls=calls,
        status=status,
        created_at=to_datetime_required(row.created_at),
        expires_at=to_datetime(row.expires_at),
        claimed_at=to_datetime(row.claimed_at),
        lease_until=to_datetime(row.lease_until),
        claim_count=row.claim_count,
        decision=decode_optional_dict(row.decision, table=table, record_id=key),
        outcome=decode_optional_dict(row.outcome, table=table, record_id=key),
        resolved_at=to_datetime(row.resolved_at),
    )


def journal_from_row(row: Any) -> JournalEntry:
    """Build a :class:`JournalEntry` from a ``penguiflow_tool_journal`` row."""
    table, key = "penguiflow_tool_journal", f"{row.run_id}/{row.call_hash}"
    return JournalEntry(
        tenant_id=row.tenant_id,
        run_id=row.run_id,
        call_hash=row.call_hash,
        tool=row.tool,
        args=decode_dict(row.args, table=table, record_id=key),
        status=_enum(JournalStatus, row.status, table=table, record_id=key),
        result=None if row.result is None else decode(row.result, table=table, record_id=key),
        error=decode_optional_dict(row.error, table=table, record_id=key),
        attempts=row.attempts,
        created_at=to_datetime_required(row.created_at),
        updated_at=to_datetime_required(row.updated_at),
    )
