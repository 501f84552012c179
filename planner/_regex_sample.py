"""Build a short string that matches a regular expression (for schema ``pattern``s).

Walks the parse tree of Python's own regex parser: literals, classes, categories,
groups, alternation, repeats and back-references. Lookarounds are skipped and the
result is checked with ``re.search``, so a wrong guess is never returned.
"""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

_parser: Any = importlib.import_module("re._parser")

_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0123456789",
    "CATEGORY_NOT_DIGIT": "abcxyz",
    "CATEGORY_WORD": "abcxyz0123_",
    "CATEGORY_NOT_WORD": " -.,",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "abcxyz012",
}
_FALLBACK_CHARS = "abcxyzABC0123_-. @"


class _Unsupported(Exception):
    pass


def sample_pattern(
    pattern: str, min_len: int, max_len: int | None, rng: random.Random, variant: int = 0
) -> str | None:
    """Return a string that ``re.search(pattern, ...)`` accepts, or ``None``.

    Args:
        pattern: the regular expression.
        min_len: the shortest acceptable length.
        max_len: the longest acceptable length (``None`` for no limit).
        rng: the source of choices, for repeatable results.
        variant: shifts choices so that sibling values differ.
    """
    try:
        compiled = re.compile(pattern)
        tree = _parser.parse(pattern)
    except (re.error, RecursionError):
        return None
    for extra in (0, 1, 2, 4, 8, max(min_len, 1)):
        try:
            text = _Builder(rng, extra, variant).emit(tree)
        except _Unsupported:
            return None
        for candidate in (text, text + "a" * max(0, min_len - len(text))):
            if len(candidate) < min_len or (max_len is not None and len(candidate) > max_len):
                continue
            if compiled.search(candidate):
                return candidate
    return None


class _Builder:
    def __init__(self, rng: random.Random, extra: int, variant: int) -> None:
        self.rng = rng
        self.extra = extra
        self.variant = variant
        self.groups: dict[int, str] = {}

    def emit(self, items: Any) -> str:
        return "".join(self.item(op, arg) for op, arg in items)

    def item(self, op: Any, arg: Any) -> str:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "NOT_LITERAL":
            return next(c for c in "ab" if ord(c) != arg)
        if name == "ANY":
            return "a"
        if name == "IN":
            return self.char_class(arg)
        if name == "AT" or name in ("ASSERT", "ASSERT_NOT"):
            return ""
        if name == "BRANCH":
            branches = arg[1]
            return self.emit(branches[(self.rng.randrange(len(branches))) % len(branches)])
        if name == "SUBPATTERN":
            group, _add, _del, sub = arg
            text = self.emit(sub)
            if group is not None:
                self.groups[group] = text
            return text
        if name == "ATOMIC_GROUP":
            return self.emit(arg)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            count = low + self.extra
            if high is not _parser.MAXREPEAT:
                count = min(count, high)
            return "".join(self.emit(sub) for _ in range(count))
        if name == "GROUPREF":
            return self.groups.get(arg, "")
        raise _Unsupported(name)

    def char_class(self, items: Any) -> str:
        negate = any(str(op) == "NEGATE" for op, _ in items)
        allowed: list[str] = []
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                allowed.append(chr(arg))
            elif name == "RANGE":
                low, high = arg
                allowed.extend(chr(c) for c in range(low, min(high, low + 25) + 1))
            elif name == "CATEGORY":
                allowed.extend(_CATEGORY_CHARS.get(str(arg), ""))
        if negate:
            excluded = set(allowed)
            options = [c for c in _FALLBACK_CHARS if c not in excluded]
        else:
            options = allowed
        if not options:
            raise _Unsupported("empty character class")
        return options[(self.rng.randrange(len(options)) + self.variant) % len(options)]
