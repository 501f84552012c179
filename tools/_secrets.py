"""``${ENV_VAR}`` placeholders, resolved at call time, and the masking of resolved values."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

from .errors import SecretNotFoundError

if TYPE_CHECKING:
    from ._results import ToolResult

__all__ = [
    "Redactor",
    "encoded_forms",
    "has_placeholder",
    "resolve",
    "resolve_mapping",
    "secret_values",
]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MASK = "***"
# Values shorter than this are not redacted: masking "a" or "1" everywhere would make every
# message unreadable, and such values are not credentials anyway.
_MIN_SECRET_LEN = 4
# The base64 of fewer bytes is too short to mask without hitting unrelated encoded data.
_MIN_BASE64_BYTES = 6
_HEX = re.compile(r"%[0-9A-F]{2}")


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


def secret_values(
    raw: Mapping[str, str | SecretStr],
    resolved: Mapping[str, str],
    *,
    marked: Iterable[str] = (),
    all_secret: bool = False,
) -> list[str]:
    """Return the resolved values of ``raw`` that are secrets.

    A value is a secret when it came from a ``${ENV_VAR}`` placeholder, when its name is in
    ``marked`` (compared without case), or when ``all_secret`` is set. Other literal values
    (``X-Tenant: acme``) are not: masking them would corrupt ordinary words in results.
    """
    names = {name.lower() for name in marked}
    out = []
    for key, value in raw.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        secret = all_secret or key.lower() in names or has_placeholder(text)
        if secret and key in resolved:
            out.append(resolved[key])
    return out


def _percent_forms(value: str) -> set[str]:
    forms = {quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")}
    # Percent-encoding is case-insensitive; some encoders write lower-case hex digits.
    forms |= {_HEX.sub(lambda m: m.group(0).lower(), form) for form in forms}
    return forms


def _json_forms(value: str) -> set[str]:
    escaped = json.dumps(value)[1:-1]
    forms = {escaped, json.dumps(value, ensure_ascii=False)[1:-1]}
    if "/" in value:  # some encoders also escape '/'
        forms |= {form.replace("/", "\\/") for form in forms}
    return forms


def _base64_forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        # Inside a longer encoded text (``user:password`` in a Basic header) the secret
        # starts at any byte offset; the characters that depend on its bytes alone are
        # the encoding of its 3-byte-aligned middle, for each of the three alignments.
        for start in range(3):
            middle = raw[start:]
            middle = middle[: len(middle) // 3 * 3]
            if len(middle) >= _MIN_BASE64_BYTES:
                forms.add(encode(middle).decode("ascii"))
    forms |= {quote(form, safe="") for form in forms}
    return forms


def encoded_forms(value: str) -> set[str]:
    """Return ``value`` and the forms it takes when a server echoes it back.

    The forms are: percent-encoded (``quote`` and ``quote_plus``, upper- and lower-case
    hex), JSON-escaped, and base64 (standard and URL-safe, alone or inside a longer
    encoded text such as ``user:password`` Basic credentials).
    """
    forms = {value} | _percent_forms(value) | _json_forms(value) | _base64_forms(value)
    return {form for form in forms if len(form) >= _MIN_SECRET_LEN}


class Redactor:
    """Remembers resolved secret values and masks them, in every form, in text and data.

    Masking covers each value as it is and as a server may echo it back (see
    :func:`encoded_forms`).
    """

    __slots__ = ("__weakref__", "_forms", "_values")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._forms: tuple[str, ...] = ()

    def add(self, *values: str) -> None:
        """Remember values that must never be shown."""
        new = {v for v in values if len(v) >= _MIN_SECRET_LEN and v not in self._values}
        if not new:
            return
        self._values |= new
        forms = set(self._forms)
        for value in new:
            forms |= encoded_forms(value)
        # Longest first, so a form is masked whole before a shorter form inside it.
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def extended(self, values: Iterable[str]) -> Redactor:
        """Return a copy that also masks ``values`` (per-call secrets; ``self`` is unchanged)."""
        copy = Redactor()
        copy._values = set(self._values)
        copy._forms = self._forms
        copy.add(*values)
        return copy

    def add_all(self, values: Iterable[str]) -> None:
        """Remember every value of ``values``."""
        self.add(*values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def result(self, result: ToolResult) -> ToolResult:
        """Return ``result`` with remembered values masked in its text, data and references.

        A server that echoes credentials back must not put them in a trajectory or store.
        """
        if not self._values:
            return result
        refs = [
            ref.model_copy(
                update={
                    "uri": None if ref.uri is None else self.text(ref.uri),
                    "text": None if ref.text is None else self.text(ref.text),
                    "data": None if ref.data is None else self.text(ref.data),
                }
            )
            for ref in result.refs
        ]
        return result.model_copy(
            update={
                "structured": self.data(result.structured),
                "text": None if result.text is None else self.text(result.text),
                "refs": refs,
            }
        )

    def text(self, text: str) -> str:
        """Return ``text`` with every remembered value masked."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, _MASK)
        return text

    def excerpt(self, text: str, limit: int) -> str:
        """Return ``text`` masked, then cut to ``limit`` characters.

        Masking comes first: a secret that crossed the cut would otherwise leak its start.
        """
        return self.text(text)[:limit]

    def data(self, data: Any) -> Any:
        """Return a copy of JSON-like ``data`` with every remembered value masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.data(item) for item in data]
        return data
