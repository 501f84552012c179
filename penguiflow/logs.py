"""``configure_logging`` and the formatters that show a record's ``extra=`` fields.

- :class:`JsonFormatter`: one flat JSON object per line (``configure_logging(structured=True)``).
- :class:`StructuredFormatter`: one JSON object per line with the extras under ``"extra"``.
- :class:`ExtraFormatter`: a plain line followed by ``[key=value, ...]``.
- :class:`TextFormatter`: a plain line.

With telemetry on (``penguiflow.telemetry``), a record logged inside a span carries the
span's ``trace_id`` and ``span_id`` (hex, as trace backends show them).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from ._hooks import HOOKS

__all__ = [
    "ExtraFormatter",
    "JsonFormatter",
    "StructuredFormatter",
    "TextFormatter",
    "configure_logging",
]

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
_PLAIN = "%(asctime)s %(levelname)s %(name)s %(message)s"
_SHOWN_CHARS = 100  # ExtraFormatter shortens longer string values


def _record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The attributes a record got from ``extra=`` (what ``logging`` does not set itself).

    The runtime's own ``flow_event`` extra (a dict) is flattened into its fields.
    """
    extras: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _STANDARD_ATTRS or key.startswith("_"):
            continue
        if key == "flow_event" and isinstance(value, dict):
            extras.update(value)
        else:
            extras[key] = value
    return extras


def _span_ids() -> tuple[str, str] | None:
    hooks = HOOKS.runtime
    return None if hooks is None else hooks.log_ids()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message and extras.

    Inside a span (telemetry on), ``trace_id`` and ``span_id`` are the span's; a
    ``trace_id`` the record carries itself (a flow's trace) is then ``flow_trace_id``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single JSON line."""
        data: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_record_extras(record))
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        ids = _span_ids()
        if ids is not None:
            if "trace_id" in data:
                data["flow_trace_id"] = data["trace_id"]
            data["trace_id"], data["span_id"] = ids
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """Formats ``time level logger message``, plus ``trace_id=... span_id=...`` in a span."""

    def __init__(self, fmt: str | None = _PLAIN, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line (and its traceback, if any)."""
        return _with_span_ids(super().format(record))


def _with_span_ids(text: str) -> str:
    ids = _span_ids()
    if ids is None:
        return text
    first, newline, rest = text.partition("\n")
    return f"{first} trace_id={ids[0]} span_id={ids[1]}{newline}{rest}"


class StructuredFormatter(logging.Formatter):
    """Formats a record as one JSON object with its extras nested under ``"extra"``.

    Keys: ``level``, ``logger``, ``message``, ``timestamp`` (ISO 8601, UTC), ``extra``
    (when there are extras), ``exception`` (when there is one) and, inside a span
    (telemetry on), ``trace_id`` and ``span_id``. Values without a JSON form are written
    as their ``str()``.

    Args:
        include_timestamp: add ``timestamp``.
        indent: indent the JSON (``None``: one line per record).
    """

    def __init__(self, include_timestamp: bool = True, indent: int | None = None) -> None:
        super().__init__()
        self._include_timestamp = include_timestamp
        self._indent = indent

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON object."""
        entry: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._include_timestamp:
            entry["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat()
        extras = _record_extras(record)
        if extras:
            entry["extra"] = extras
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        ids = _span_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        return json.dumps(entry, ensure_ascii=False, default=str, indent=self._indent)


class ExtraFormatter(logging.Formatter):
    """A ``logging.Formatter`` that appends the record's extras: ``... [step=1, tool="x"]``.

    String values longer than 100 characters are shortened with ``...``. Inside a span
    (telemetry on), ``trace_id=... span_id=...`` follow the message.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted line followed by the extras, if any."""
        base = _with_span_ids(super().format(record))
        shown = [_show(key, value) for key, value in _record_extras(record).items()]
        if not shown:
            return base
        first, newline, rest = base.partition("\n")
        return f"{first} [{', '.join(shown)}]{newline}{rest}"


def _show(key: str, value: Any) -> str:
    if isinstance(value, str):
        if len(value) > _SHOWN_CHARS:
            value = value[:_SHOWN_CHARS] + "..."
        return f'{key}="{value}"'
    return f"{key}={value}"


def configure_logging(
    level: int | str = logging.INFO,
    *,
    structured: bool = False,
    include_extras: bool = True,
    logger_name: str = "penguiflow",
    stream: IO[str] | None = None,
) -> logging.Logger:
    """Send PenguiFlow's logs (and your ``extra=`` fields) to a stream.

    Calling it again replaces the handler it installed before, so it is safe to repeat;
    handlers you added yourself are left alone.

    Args:
        level: the logger's level.
        structured: one JSON object per line (:class:`JsonFormatter`) instead of text.
        include_extras: in text mode, append each record's extras
            (:class:`ExtraFormatter`).
        logger_name: the logger to configure (``""`` for the root logger).
        stream: where to write (default ``sys.stderr``).

    Returns:
        The configured logger.
    """
    log = logging.getLogger(logger_name)
    log.setLevel(level)
    for handler in list(log.handlers):
        if getattr(handler, "_penguiflow", False):
            log.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._penguiflow = True  # type: ignore[attr-defined]
    formatter: logging.Formatter
    if structured:
        formatter = JsonFormatter()
    elif include_extras:
        formatter = ExtraFormatter(_PLAIN)
    else:
        formatter = TextFormatter()
    handler.setFormatter(formatter)
    log.addHandler(handler)
    return log
