"""Allow/deny matching of tool names: deny by default, deny wins, whole-name globs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

__all__ = ["ToolFilter", "closest", "matches"]


def matches(patterns: Iterable[str], tool: str, qualified: str) -> bool:
    """Return whether a pattern matches the whole ``tool`` name or ``qualified`` name.

    Patterns are case-sensitive shell globs (``*``, ``?``, ``[abc]``); a pattern without
    wildcards must equal the name.
    """
    return any(fnmatchcase(tool, p) or fnmatchcase(qualified, p) for p in patterns)


class ToolFilter:
    """Decides which tools of one server may be listed and called.

    Args:
        server: the server id (the config's ``name``).
        allow: names or globs that may be used; empty allows nothing.
        deny: names or globs that may never be used.
    """

    __slots__ = ("_allow", "_deny", "_server")

    def __init__(self, server: str, allow: Iterable[str], deny: Iterable[str]) -> None:
        self._server = server
        self._allow = tuple(allow)
        self._deny = tuple(deny)

    def allowed(self, tool: str) -> bool:
        """Return whether ``tool`` (the server's name for it) may be used."""
        qualified = f"{self._server}.{tool}"
        if matches(self._deny, tool, qualified):
            return False
        return matches(self._allow, tool, qualified)

    def unmatched(self, tools: Iterable[str]) -> list[str]:
        """Return the ``allow`` entries that match none of ``tools`` (a typo, usually)."""
        names = list(tools)
        return [
            pattern
            for pattern in self._allow
            if not any(matches((pattern,), name, f"{self._server}.{name}") for name in names)
        ]

    def review(self, offered: Sequence[str]) -> tuple[list[str], str | None]:
        """Check the lists against the tools a server offers.

        Returns:
            A warning for each ``allow`` entry that matches no offered tool (naming the
            closest names), and an error when the lists leave none of the offered tools.
        """
        warnings = []
        for entry in self.unmatched(offered):
            near = closest(entry.removeprefix(f"{self._server}."), offered)
            hint = f"did you mean {', '.join(map(repr, near))}?" if near else _listing(offered)
            warnings.append(f"allow entry {entry!r} matches none of the server's tools; {hint}")
        if not offered or any(self.allowed(name) for name in offered):
            return warnings, None
        allow = f"allow={list(self._allow)}" if self._allow else "an empty allow list"
        deny = f" and deny={list(self._deny)}" if self._deny else ""
        return warnings, (
            f"{allow}{deny} leaves none of the server's {len(offered)} tools; "
            f"{_listing(offered)}. Name the tools to use in allow (allow=['*'] allows them all)"
        )


def _listing(tools: Sequence[str], shown: int = 8) -> str:
    names = ", ".join(repr(name) for name in sorted(tools)[:shown])
    more = f" and {len(tools) - shown} more" if len(tools) > shown else ""
    return f"the server offers {names}{more}"


def closest(entry: str, tools: Sequence[str], *, limit: int = 3) -> list[str]:
    """Return up to ``limit`` names of ``tools`` that look like ``entry``, best first."""
    return difflib.get_close_matches(entry, tools, n=limit, cutoff=0.5)
