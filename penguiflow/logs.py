"""``configure_logging``: plain or structured (one JSON object per line) logs.

With telemetry on (``penguiflow.telemetry``), a record logged inside a span carries the
span's ``trace_id`` and ``span_id`` (hex, as trace backends show them).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any

from ._hooks import HOOKS

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


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
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if key == "flow_event" and isinstance(value, dict):
                data.update(value)
            else:
                data[key] = value
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

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line (and its traceback, if any)."""
        text = super().format(record)
        ids = _span_ids()
        if ids is None:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} trace_id={ids[0]} span_id={ids[1]}{newline}{rest}"


def configure_logging(
    level: int | str = logging.INFO,
    *,
    structured: bool = False,
    logger_name: str = "penguiflow",
    stream: IO[str] | None = None,
) -> logging.Logger:
    """Send PenguiFlow's logs (and your ``extra=`` fields) to a stream.

    Calling it again replaces the handler it installed before, so it is safe to repeat.

    Args:
        level: the logger's level.
        structured: one JSON object per line instead of plain text.
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
    handler.setFormatter(JsonFormatter() if structured else TextFormatter())
    log.addHandler(handler)
    return log
