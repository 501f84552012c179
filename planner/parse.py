"""Strict parsing of the LLM's reply into a :class:`PlannerAction`.

Parsing never guesses: the reply must be one JSON object in the current or the older
action shape. Guessing (code fences, prose, Python literals...) is the job of
:mod:`penguiflow.planner.repair`, which feeds its candidates back through
:func:`action_from_object`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ._bounded_json import ReplyDecodeError, ReplyLimits
from .actions import PlannerAction, normalise_legacy

__all__ = [
    "AnswerStreamExtractor",
    "ParseOutcome",
    "action_from_object",
    "describe_validation_error",
    "parse_action",
]

_ACTION = PlannerAction.__pydantic_validator__
_LIMITS = ReplyLimits()

_EXPECTED = (
    'expected one JSON object {"thought": "...", "next_node": "<tool name>" | '
    '"final_response" | "parallel", "args": {...}}'
)


@dataclass(slots=True)
class ParseOutcome:
    """The result of parsing one reply.

    Attributes:
        action: the action, when the reply was usable.
        error: why it was not, phrased for the LLM (which field, what was expected).
        fixes: the local repairs applied to get ``action`` (empty for a clean reply).
    """

    action: PlannerAction | None = None
    error: str | None = None
    fixes: list[str] = field(default_factory=list)


def describe_validation_error(exc: ValidationError, *, prefix: str = "") -> str:
    """Render a pydantic error as ``field: problem (got value)`` items for the LLM.

    Args:
        exc: the validation error.
        prefix: prepended to every field path (for example ``"args."``).

    Returns:
        One line per problem, joined with ``"; "``.
    """
    parts: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        got = err.get("input")
        shown = json.dumps(got, default=str)[:80] if err.get("type") != "missing" else ""
        part = f"{prefix}{loc}: {err.get('msg', 'invalid')}"
        parts.append(f"{part} (got {shown})" if shown else part)
    return "; ".join(parts)


def _normalise(data: dict[str, Any]) -> dict[str, Any] | str:
    """Map the older shape onto the current one; return an error string when impossible."""
    if "next_node" not in data:
        return f"next_node: field required; {_EXPECTED}"
    try:
        return normalise_legacy(data)
    except ValueError as exc:
        return str(exc)


def action_from_object(data: Any) -> ParseOutcome:
    """Validate a decoded JSON value as an action (current or older shape).

    Args:
        data: the decoded JSON value.

    Returns:
        A :class:`ParseOutcome` with the action or the error.
    """
    if not isinstance(data, dict):
        return ParseOutcome(error=f"the reply is a JSON {type(data).__name__}; {_EXPECTED}")
    normalised = _normalise(data)
    if isinstance(normalised, str):
        return ParseOutcome(error=normalised)
    if normalised.get("thought") is None:
        normalised = {k: v for k, v in normalised.items() if k != "thought"}
    if normalised.get("args") is None and "args" in normalised:
        normalised = {**normalised, "args": {}}
    try:
        return ParseOutcome(action=PlannerAction.model_validate(normalised))
    except ValidationError as exc:
        return ParseOutcome(error=describe_validation_error(exc))


def parse_action(text: str, *, limits: ReplyLimits = _LIMITS) -> ParseOutcome:
    """Parse a reply that must be exactly one JSON object.

    Args:
        text: the model's reply.
        limits: the most characters and nesting levels to read (the planner's
            ``max_reply_chars`` and ``max_reply_depth``).

    Returns:
        A :class:`ParseOutcome`; ``error`` explains what is wrong.
    """
    stripped = text.strip()
    if not stripped:
        return ParseOutcome(error=f"the reply is empty; {_EXPECTED}")
    problem = limits.problem(stripped)
    if problem is not None:
        return ParseOutcome(error=f"the reply is {problem}; {_EXPECTED}")
    try:  # a reply in the current shape parses in one pass
        return ParseOutcome(action=_ACTION.validate_json(stripped))
    except ValidationError:
        pass  # the older shape, a null field or an error to describe: the full path
    try:
        data = limits.loads(stripped)
    except ReplyDecodeError as exc:
        return ParseOutcome(error=f"the reply is {exc}; {_EXPECTED}")
    return action_from_object(data)


_ANSWER_KEY = re.compile(r'"(?:answer|raw_answer)"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _decode_unicode_escape(buf: str, pos: int) -> tuple[int, str]:
    """Decode a JSON unicode escape (or surrogate pair) at ``pos``; ``(0, "")`` if incomplete."""
    if pos + 6 > len(buf):
        return 0, ""
    try:
        point = int(buf[pos + 2 : pos + 6], 16)
    except ValueError:
        return 6, buf[pos : pos + 6]
    if 0xD800 <= point < 0xDC00:
        if pos + 12 > len(buf):
            return 0, ""
        if buf[pos + 6 : pos + 8] == "\\u":
            try:
                low = int(buf[pos + 8 : pos + 12], 16)
            except ValueError:
                low = 0
            if 0xDC00 <= low < 0xE000:
                return 12, chr(0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00))
        return 6, "\ufffd"
    if 0xDC00 <= point < 0xE000:
        return 6, "\ufffd"
    return 6, chr(point)


class AnswerStreamExtractor:
    """Pull the text of the ``answer`` string out of a JSON reply while it streams.

    Feed the raw chunks as they arrive; :meth:`feed` returns the newly decoded part of
    the answer (possibly empty). Escapes split across chunks are held back until
    complete.
    """

    __slots__ = ("_buf", "_done", "_pos")

    def __init__(self) -> None:
        self._buf = ""
        self._pos = -1  # index in _buf where undecoded answer text starts; -1 before it
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the closing quote of the answer was seen."""
        return self._done

    def feed(self, chunk: str) -> str:
        """Add ``chunk`` and return the answer text it completed."""
        if self._done:
            return ""
        self._buf += chunk
        if self._pos < 0:
            match = _ANSWER_KEY.search(self._buf)
            if match is None:
                return ""
            self._pos = match.end()
        out: list[str] = []
        buf, pos, size = self._buf, self._pos, len(self._buf)
        while pos < size:
            char = buf[pos]
            if char == '"':
                self._done = True
                pos += 1
                break
            if char != "\\":
                out.append(char)
                pos += 1
                continue
            if pos + 1 >= size:
                break
            code = buf[pos + 1]
            if code == "u":
                consumed, text = _decode_unicode_escape(buf, pos)
                if consumed == 0:
                    break
                out.append(text)
                pos += consumed
                continue
            out.append(_ESCAPES.get(code, code))
            pos += 2
        self._pos = pos
        return "".join(out)
