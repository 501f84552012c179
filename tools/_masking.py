"""Masking secrets in what leaves the process for people: the playground page, traces.

Model requests, replies and tool data shown in the playground, and the content that
``penguiflow.telemetry`` records with ``capture_content=True``, go through
:class:`SecretMasker`. Three rules, applied to JSON-like values (dicts, lists, strings):

* the value of a key that names a credential (``api_key``, ``authorization``,
  ``password``, ``*_token``, ``*_secret``...) is replaced, whatever it is;
* text that looks like a credential (``Bearer ...``, ``sk-...``, ``ghp_...``, AWS access
  key ids) is replaced inside any string;
* the values of environment variables whose names look secret (``*_KEY``, ``*TOKEN*``,
  ``*SECRET*``, ``*PASSWORD*``), and the playground's own access token, are replaced
  wherever they appear.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "SecretMasker"]

MASK = "***"
"""What a masked value is replaced with."""

_SECRET_KEY = re.compile(
    r"(?:^|[_\-.])(?:api[_\-]?key|apikey|authorization|password|passwd|secret|"
    r"client[_\-]?secret|cookie|set[_\-]?cookie|private[_\-]?key|token|access[_\-]?token|"
    r"refresh[_\-]?token|resume[_\-]?token|credentials?)$",
    re.IGNORECASE,
)
_SECRET_TEXT = re.compile(
    r"(?:Bearer|Basic)\s+[A-Za-z0-9._~+/\-]{8,}=*"
    r"|\bsk-[A-Za-z0-9_\-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abpr]-[A-Za-z0-9\-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b",
)
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shorter values are not masked: they are not credentials, and masking them everywhere
# would garble ordinary text.
_MIN_SECRET_LEN = 8


class SecretMasker:
    """Replaces credentials in JSON-like values with ``***``.

    Args:
        extra_secrets: exact values to mask too (such as the playground's access token).
        environ: where secret-looking variables are read from (default: ``os.environ``).
    """

    def __init__(
        self, extra_secrets: Iterable[str] = (), *, environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        values = {
            value
            for name, value in env.items()
            if _SECRET_ENV.search(name) and len(value) >= _MIN_SECRET_LEN
        }
        values.update(s for s in extra_secrets if len(s) >= _MIN_SECRET_LEN)
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        """Return ``value`` with every secret in it masked."""
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return _SECRET_TEXT.sub(MASK, value)

    def __call__(self, value: Any) -> Any:
        """Return a copy of ``value`` (JSON-like) with secrets masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                key: MASK
                if isinstance(key, str) and _SECRET_KEY.search(key) and value[key] is not None
                else self(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        return value
