"""``${ENV_VAR}`` placeholders, resolved at call time, and the redaction of resolved values."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .errors import SecretNotFoundError

if TYPE_CHECKING:
    from ._results import ToolResult

__all__ = ["Redactor", "has_placeholder", "resolve", "resolve_mapping", "secret_values"]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MASK = "***"
# Values shorter than this are not redacted: masking "a" or "1" everywhere would make every
# message unreadable, and such values are not credentials anyway.
_MIN_SECRET_LEN = 4


def has_placeholder(text: str) -> bool:
    """Return whether ``text`` contains a ``${NAME}`` placeholder."""
    return _PLACEHOLDER.search(text) is not None


def resolve(
    value: str | SecretStr,
    *,
    server: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return ``value`` with every ``${NAME}`` replaced by the environment variable ``NAME``.

    Raises:
        SecretNotFoundError: a referenced variable is not set.
    """
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        found = env.get(name)
        if found is None:
            raise SecretNotFoundError(name, server)
        return found

    return _PLACEHOLDER.sub(substitute, text)


def resolve_mapping(
    values: Mapping[str, str | SecretStr], *, server: str | None = None
) -> dict[str, str]:
    """Resolve every value of ``values`` (see :func:`resolve`)."""
    return {key: resolve(value, server=server) for key, value in values.items()}


def secret_values(raw: Mapping[str, str | SecretStr], resolved: Mapping[str, str]) -> list[str]:
    """Return the resolved values that came from ``${ENV_VAR}`` placeholders.

    Those are the secrets among configured headers; literal values (``X-Tenant: acme``)
    are not, and masking them would corrupt ordinary words in results.
    """
    out = []
    for key, value in raw.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if has_placeholder(text) and key in resolved:
            out.append(resolved[key])
    return out


class Redactor:
    """Remembers resolved secret values and masks them in text and JSON-like data."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str) -> None:
        """Remember values that must never be shown."""
        for value in values:
            if len(value) >= _MIN_SECRET_LEN:
                self._values.add(value)

    def extended(self, values: Iterable[str]) -> Redactor:
        """Return a copy that also masks ``values`` (per-call secrets; ``self`` is unchanged)."""
        copy = Redactor()
        copy._values = set(self._values)
        copy.add(*values)
        return copy

    def add_all(self, values: Iterable[str]) -> None:
        """Remember every value of ``values``."""
        self.add(*values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def result(self, result: ToolResult) -> ToolResult:
        """Return ``result`` with remembered values masked in its text and structured data.

        A server that echoes credentials back must not put them in a trajectory or store.
        """
        if not self._values:
            return result
        return result.model_copy(
            update={
                "structured": self.data(result.structured),
                "text": None if result.text is None else self.text(result.text),
            }
        )

    def text(self, text: str) -> str:
        """Return ``text`` with every remembered value masked."""
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, _MASK)
        return text

    def data(self, data: Any) -> Any:
        """Return a copy of JSON-like ``data`` with every remembered value masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.data(item) for item in data]
        return data
