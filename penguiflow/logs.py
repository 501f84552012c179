"""``configure_logging``: plain or structured (one JSON object per line) logs."""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message and extras."""

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
        return json.dumps(data, default=str)


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
    handler.setFormatter(
        JsonFormatter()
        if structured
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    log.addHandler(handler)
    return log
