r"""JSON in and out of the planner, within bounds, whatever the model or a tool sends.

Reading: :class:`ReplyLimits` bounds what the planner decodes from a model's reply: its
size in characters and how deeply its arrays and objects nest. :meth:`ReplyLimits.loads`
checks both before decoding (so the decoder never recurses past the depth limit), turns
lone UTF-16 surrogates (``"\ud800"``) into U+FFFD so a decoded value can always be
written as UTF-8, and raises :class:`ReplyDecodeError` (a ``ValueError``) with a message
phrased for the model for anything it cannot read: text that is not JSON, a reply over a
limit, an integer too long for Python.

Writing: :func:`dumps` renders any value as compact JSON for a prompt. A value pydantic
refuses to serialise (a lone surrogate, nesting deeper than it allows, bytes that are
not UTF-8) is cleaned and rendered instead of raising.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import from_json, to_json

__all__ = [
    "DEFAULT_MAX_REPLY_CHARS",
    "DEFAULT_MAX_REPLY_DEPTH",
    "MAX_REPLY_DEPTH_LIMIT",
    "ReplyDecodeError",
    "ReplyLimits",
    "clean_text",
    "dumps",
]

DEFAULT_MAX_REPLY_CHARS = 1_000_000
"""``max_reply_chars`` by default: about 250k tokens, above any model's output limit."""

DEFAULT_MAX_REPLY_DEPTH = 32
"""``max_reply_depth`` by default: far deeper than any tool's arguments."""

MAX_REPLY_DEPTH_LIMIT = 128
"""The largest ``max_reply_depth``: deeper values could not be written back into prompts
and stored runs (the serialisers stop at about 250 levels, counting the run's own)."""

_SIGNIFICANT = re.compile(r'[][{}"\\]')
_SURROGATE = re.compile("[\ud800-\udfff]")
_DUMP_DEPTH = 64
_TOO_DEEP = "(nested too deeply to show)"


class ReplyDecodeError(ValueError):
    """A reply's JSON could not be read; the message says why, for the model."""


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    """How much of a reply the planner reads (see ``ReactPlanner``).

    Attributes:
        max_chars: the most characters of one reply.
        max_depth: how deeply arrays and objects may nest in decoded JSON.
    """

    max_chars: int = DEFAULT_MAX_REPLY_CHARS
    max_depth: int = DEFAULT_MAX_REPLY_DEPTH

    def size_problem(self, size: int) -> str | None:
        """Why ``size`` characters are not read (``"too long: ..."``), or ``None``."""
        if size <= self.max_chars:
            return None
        return f"too long: {size} characters, more than max_reply_chars={self.max_chars}"

    def problem(self, text: str) -> str | None:
        """Why JSON ``text`` is not decoded (too long, nested too deeply), or ``None``."""
        if len(text) <= self.max_chars and text.count("[") + text.count("{") <= self.max_depth:
            return None  # the usual reply: nothing to scan
        if len(text) > self.max_chars:
            return self.size_problem(len(text))
        if _deeper_than(text, self.max_depth):
            return (
                f"nested too deeply: arrays and objects more than max_reply_depth="
                f"{self.max_depth} levels deep"
            )
        return None

    def loads(self, text: str) -> Any:
        """Decode JSON ``text`` within the limits.

        Raises:
            ReplyDecodeError: ``text`` is not JSON, is over a limit, or holds an integer
                too long to read. The message completes "the reply is ...".
        """
        problem = self.problem(text)
        if problem is not None:
            raise ReplyDecodeError(problem)
        try:  # the fast decoder refuses lone surrogates, so what it returns is clean
            return from_json(text)
        except (ValueError, TypeError):
            pass  # not JSON, a lone surrogate, or a long integer: the decoder that says why
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReplyDecodeError(f"not valid JSON ({exc})") from None
        except ValueError:  # the only other one: Python's limit on integer digits
            raise ReplyDecodeError(
                "not readable: an integer has too many digits; write long numbers as strings"
            ) from None
        return _without_surrogates(value)


def _deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest more than ``limit`` levels.

    Brackets inside strings do not count. Linear in the number of brackets, quotes and
    backslashes.
    """
    depth = 0
    in_string = False
    escaped = -1  # position of the character a backslash escapes
    for match in _SIGNIFICANT.finditer(text):
        position = match.start()
        if position == escaped:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}" and depth:
            depth -= 1
    return False


def clean_text(text: str) -> str:
    """``text`` with lone UTF-16 surrogates replaced by U+FFFD (pairs are joined)."""
    if text.isascii() or _SURROGATE.search(text) is None:  # isascii() is a flag lookup
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(k): _without_surrogates(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """Compact JSON for a prompt: non-ASCII kept, unknown objects as ``str``, NaN as null.

    Never raises: a value pydantic cannot serialise is cleaned first (lone surrogates
    become U+FFFD, bytes are decoded, nesting below 64 levels is replaced by a note).
    """
    try:
        return to_json(value, fallback=str, inf_nan_mode="null").decode()
    except Exception:  # whatever failed, the cleaned value can be written
        return to_json(_printable(value, _DUMP_DEPTH), inf_nan_mode="null").decode()


def _printable(value: Any, depth: int) -> Any:
    """``value`` as plain JSON data that pydantic can always serialise."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, BaseModel):
        try:
            value = value.model_dump(mode="python")
        except Exception:  # a model that cannot dump itself is named instead
            return f"<{type(value).__name__}>"
    if isinstance(value, dict | list | tuple | set | frozenset):
        if depth <= 0:
            return _TOO_DEEP
        if isinstance(value, dict):
            return {_text(k): _printable(v, depth - 1) for k, v in value.items()}
        return [_printable(item, depth - 1) for item in value]
    return _text(value)


def _text(value: Any) -> str:
    """``str(value)`` without lone surrogates; the type's name when ``str`` fails."""
    try:
        return clean_text(value if isinstance(value, str) else str(value))
    except Exception:  # a deep or broken __str__
        return f"<{type(value).__name__}>"
