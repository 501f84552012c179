"""JSON records with a schema version, and time conversions, for the session store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from penguiflow.errors import ConfigError

from .errors import CorruptRecordError, UnserializableRecordError

__all__ = [
    "RECORD_SCHEMA_VERSION",
    "decode",
    "decode_dict",
    "decode_optional_dict",
    "encode",
    "encode_lenient",
    "epoch",
    "to_datetime",
    "to_datetime_required",
]

RECORD_SCHEMA_VERSION = 1
"""Version of the JSON envelope written around every stored value."""


class _Envelope(BaseModel):
    """The stored form of every JSON value: ``{"schema_version": 1, "data": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(ge=1)
    data: Any = None


def encode(data: Any, *, what: str) -> str:
    """Serialise ``data`` (plain JSON only) inside a versioned envelope.

    Raises:
        UnserializableRecordError: ``data`` holds something JSON cannot represent.
    """
    try:
        text = json.dumps(
            {"schema_version": RECORD_SCHEMA_VERSION, "data": data},
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        text.encode("utf-8")  # a lone surrogate is valid in a str, not in a database
    except UnicodeEncodeError as exc:
        detail = f"a string holds the lone surrogate {exc.object[exc.start : exc.end]!r}"
        raise UnserializableRecordError(what=what, detail=detail) from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnserializableRecordError(what=what, detail=str(exc)) from None
    return text


def encode_lenient(data: Any) -> str:
    """Serialise event payloads: values JSON cannot hold are stored as their ``repr``."""
    return json.dumps(
        {"schema_version": RECORD_SCHEMA_VERSION, "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        default=repr,
    )


def decode(text: str | None, *, table: str, record_id: str) -> Any:
    """Read a value written by :func:`encode`.

    Raises:
        CorruptRecordError: the text is not a valid record, or was written by a newer format.
    """
    if text is None:
        raise CorruptRecordError(table=table, record_id=record_id, detail="the value is NULL")
    try:
        envelope = _Envelope.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        raise CorruptRecordError(
            table=table,
            record_id=record_id,
            detail=f"not a valid JSON record ({where}: {first.get('msg', 'invalid')})",
        ) from None
    if envelope.schema_version > RECORD_SCHEMA_VERSION:
        raise CorruptRecordError(
            table=table,
            record_id=record_id,
            detail=(
                f"written in record format {envelope.schema_version} by a newer PenguiFlow; "
                f"this version reads up to {RECORD_SCHEMA_VERSION}"
            ),
        )
    return envelope.data


def decode_dict(text: str | None, *, table: str, record_id: str) -> dict[str, Any]:
    """Like :func:`decode`, but the value must be a JSON object."""
    data = decode(text, table=table, record_id=record_id)
    if not isinstance(data, dict):
        raise CorruptRecordError(
            table=table,
            record_id=record_id,
            detail=f"expected a JSON object, found {type(data).__name__}",
        )
    return data


def decode_optional_dict(text: str | None, *, table: str, record_id: str) -> dict[str, Any] | None:
    """Like :func:`decode_dict`, but a SQL NULL or a JSON null reads as ``None``."""
    if text is None:
        return None
    data = decode(text, table=table, record_id=record_id)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CorruptRecordError(
            table=table,
            record_id=record_id,
            detail=f"expected a JSON object or null, found {type(data).__name__}",
        )
    return data


def to_datetime(value: float | None) -> datetime | None:
    """Convert stored epoch seconds to an aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def to_datetime_required(value: float) -> datetime:
    """Convert stored epoch seconds (never NULL) to an aware UTC datetime."""
    return datetime.fromtimestamp(value, tz=UTC)


def epoch(value: datetime | timedelta | None, *, now: float, name: str) -> float | None:
    """Convert an absolute (aware datetime) or relative (timedelta) time to epoch seconds.

    Raises:
        ConfigError: a naive datetime, or a value of another type.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        return now + value.total_seconds()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConfigError(
                f"{name} must be timezone-aware, got the naive datetime {value.isoformat()}; "
                "use datetime.now(UTC) + timedelta(...) or pass a timedelta"
            )
        return value.timestamp()
    raise ConfigError(
        f"{name} must be an aware datetime, a timedelta or None, got {type(value).__name__}"
    )
