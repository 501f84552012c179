"""Masking of secrets in the log records of the libraries that carry tool traffic.

The ``mcp`` SDK logs raw JSON-RPC messages at DEBUG level, and ``httpx`` logs every request
URL at INFO level; either can hold a bearer token or an API key that a server echoed back
or that travels in a query string. While a ``ToolNode`` holding secrets is connected, a
filter on those loggers masks them (with the node's :class:`Redactor`) before any handler
sees the record.
"""

from __future__ import annotations

import logging
import threading
import weakref

from ._secrets import Redactor

__all__ = ["SecretLogFilter", "mask_known_secrets", "mask_logs_for", "stop_masking_logs_for"]

_LOGGER_TREES = ("mcp", "client", "httpx", "httpx2", "httpcore", "httpcore2")
"""Loggers (and their children) of the SDKs under ToolNode. ``client`` is the logger
name the MCP client session uses."""


class SecretLogFilter(logging.Filter):
    """Masks the secrets of every registered :class:`Redactor` in a log record.

    The message (with its arguments), a logged exception and a stack are masked; the
    record is never dropped.
    """

    def __init__(self) -> None:
        super().__init__()
        self._redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def watch(self, redactor: Redactor) -> None:
        """Mask the secrets ``redactor`` knows (now and later) in every record."""
        self._redactors.add(redactor)

    def unwatch(self, redactor: Redactor) -> None:
        """Stop masking with ``redactor``."""
        self._redactors.discard(redactor)

    def mask(self, text: str) -> str:
        """Return ``text`` with the secrets of every registered redactor masked."""
        for redactor in list(self._redactors):
            text = redactor.text(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place; always keep it."""
        if not any(self._redactors):
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


_FILTER = SecretLogFilter()
_lock = threading.Lock()
_installed: set[str] = set()


def _install() -> None:
    # A filter on a logger applies to records logged on that logger only, not to its
    # children: attach it to every logger of each tree, and create the known ones now so
    # that modules imported later get the filtered logger object.
    with _lock:
        names = set(_LOGGER_TREES) | {
            name
            for name in logging.root.manager.loggerDict
            if name.split(".", 1)[0] in _LOGGER_TREES
        }
        for name in sorted(names - _installed):
            logging.getLogger(name).addFilter(_FILTER)
            _installed.add(name)


def mask_logs_for(redactor: Redactor) -> None:
    """Mask ``redactor``'s secrets in the MCP SDK's and httpx's log records."""
    _install()
    _FILTER.watch(redactor)


def stop_masking_logs_for(redactor: Redactor) -> None:
    """Undo :func:`mask_logs_for` (the filter stays, idle, on the loggers)."""
    _FILTER.unwatch(redactor)


def mask_known_secrets(text: str) -> str:
    """Mask in ``text`` the secrets of every connected ``ToolNode`` (their resolved values)."""
    return _FILTER.mask(text)
