"""What a routed value is, decided once per type: an envelope, a control payload or data.

On every hop the runtime asks whether a value is a ``Message`` envelope and whether a
payload is a controller ``WM`` or a ``FinalAnswer``. ``isinstance`` says "no" slowly for
pydantic models (their metaclass runs Python code first), and the answer depends only on
the type, so it is cached per type.
"""

from __future__ import annotations

from typing import Any, Final

from .types import WM, FinalAnswer, Message

__all__ = ["CONTROL", "DATA", "ENVELOPE", "kind_of", "payload_kind"]

DATA: Final = 0
ENVELOPE: Final = 1
CONTROL: Final = 2

_MAX_CACHED: Final = 1024
"""Types created on the fly (rare) are still classified, just not remembered forever."""

_by_type: dict[type, int] = {}


def _classify(tp: type) -> int:
    """Return (and cache) the kind of values of type ``tp``."""
    if issubclass(tp, Message):
        kind = ENVELOPE
    elif issubclass(tp, (WM, FinalAnswer)):
        kind = CONTROL
    else:
        kind = DATA
    if len(_by_type) < _MAX_CACHED:
        _by_type[tp] = kind
    return kind


def kind_of(value: Any) -> int:
    """``ENVELOPE`` for a ``Message``, ``CONTROL`` for a bare ``WM``/``FinalAnswer``, else ``DATA``."""
    kind = _by_type.get(type(value))
    return _classify(type(value)) if kind is None else kind


def payload_kind(value: Any) -> int:
    """The kind of ``value``'s payload (``value`` itself when it is not an envelope)."""
    kind = kind_of(value)
    return kind_of(value.payload) if kind == ENVELOPE else kind
