"""Reading a tool's description and argument docs from a Google-style docstring."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["Docstring", "parse_docstring"]

_ARGS_HEADERS = frozenset({"args", "arguments", "parameters", "params"})
_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Docstring:
    """What a docstring says about a tool.

    Attributes:
        summary: the first paragraph, on one line (``""`` when there is none).
        args: per-parameter descriptions from the ``Args:`` section.
    """

    summary: str = ""
    args: dict[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _summary(lines: list[str]) -> str:
    paragraph: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or _HEADER.match(stripped):
            break
        paragraph.append(stripped)
    return " ".join(paragraph)


def _args_section(lines: list[str]) -> dict[str, str]:
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if (m := _HEADER.match(line.strip())) and m.group(1).lower() in _ARGS_HEADERS
        ),
        None,
    )
    if start is None:
        return {}
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    found: dict[str, str] = {}
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.match(line.strip()) if indent == entry_indent else None
        if match is not None:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current is not None:
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found


def parse_docstring(doc: str | None) -> Docstring:
    """Return the summary paragraph and the ``Args:`` entries of ``doc``.

    Args:
        doc: a docstring (``func.__doc__``) or ``None``.
    """
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    return Docstring(_summary(lines), _args_section(lines))
