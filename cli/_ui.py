"""Terminal output of the CLI: consoles, live activity, results, pauses and trajectories."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from ..planner.events import PlannerEvent

__all__ = [
    "Activity",
    "Column",
    "Consoles",
    "describe_pending_call",
    "jsonable",
    "pause_fields",
    "pending_calls_table",
    "print_listing",
    "run_state_steps",
    "short_json",
    "when",
]


class Consoles:
    """The two consoles: results on stdout, activity and errors on stderr."""

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def error(self, message: str) -> None:
        """Print an error message on stderr."""
        self.err.print(f"[bold red]error:[/] {escape(message)}")

    def note(self, message: str) -> None:
        """Print a dim note on stderr."""
        self.err.print(f"[dim]{escape(message)}[/]")


_WIDE = 120
"""Terminals at least this wide show the columns marked ``wide_only``."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a listing.

    Attributes:
        header: the column's title.
        kind: ``"id"`` and ``"word"`` are never cut; ``"text"`` is cut with an ellipsis
            when a terminal is too narrow.
        wide_only: on a terminal, shown only when it is at least 120 columns wide (always
            shown when the output is not a terminal).
    """

    header: str
    kind: Literal["id", "word", "text"] = "text"
    wide_only: bool = False


def when(value: datetime | None) -> str:
    """A local date and time to the minute, or ``-``."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _cell(value: str) -> str:
    return " ".join(value.split()) or "-"


def _fit(wanted: dict[int, int], room: int, least: int = 4) -> dict[int, int]:
    """Share ``room`` characters among text columns: narrow ones whole, the rest evenly."""
    widths: dict[int, int] = {}
    for count, (index, width) in enumerate(sorted(wanted.items(), key=lambda item: item[1])):
        share = room // (len(wanted) - count)
        widths[index] = min(width, max(share, least))
        room -= widths[index]
    return widths


def print_listing(
    consoles: Consoles, columns: Sequence[Column], rows: Sequence[Sequence[str]]
) -> None:
    """Print rows as a table that fits the terminal, or as aligned plain lines.

    On a terminal, ids and words are never cut or wrapped; text columns are cut with an
    ellipsis to fit the width. Otherwise (a pipe, a file) every value is printed whole,
    one row per line, columns separated by at least two spaces.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    longest = [
        max([len(column.header), *(len(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    if consoles.out.is_terminal:
        _print_table(consoles.out, columns, cells, longest)
        return
    for row in [[c.header for c in columns], *cells]:
        line = "  ".join(value.ljust(width) for value, width in zip(row, longest, strict=True))
        consoles.out.print(line.rstrip(), markup=False, highlight=False, soft_wrap=True)


def _print_table(
    out: Console, columns: Sequence[Column], cells: list[list[str]], longest: list[int]
) -> None:
    shown = [i for i, c in enumerate(columns) if not c.wide_only or out.width >= _WIDE]
    fixed = sum(longest[i] for i in shown if columns[i].kind != "text")
    widths = _fit(
        {i: longest[i] for i in shown if columns[i].kind == "text"},
        out.width - 2 * (len(shown) - 1) - fixed,
    )
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    for i in shown:
        table.add_column(
            columns[i].header, no_wrap=True, overflow="ellipsis", width=widths.get(i, longest[i])
        )
    for row in cells:
        table.add_row(*(escape(row[i]) for i in shown))
    out.print(table, soft_wrap=False)  # fit the table to the terminal


def short_json(value: Any, limit: int = 160) -> str:
    """Compact JSON of ``value``, cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def jsonable(value: Any) -> Any:
    """Turn pydantic models, datetimes and the like into plain JSON values."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class Activity:
    """Shows what a run is doing: a spinner, tool calls, and the streamed answer.

    Activity goes to stderr; the streamed answer goes to stdout unless ``stream_answer``
    is off (``--json``).
    """

    def __init__(self, consoles: Consoles, *, stream_answer: bool = True) -> None:
        self._c = consoles
        self._stream_answer = stream_answer
        self._status: Status | None = None
        self.streamed = False
        self.streamed_text = ""

    def begin(self) -> None:
        """Start the spinner (terminals only)."""
        if self._c.err.is_terminal and self._status is None:
            self._status = self._c.err.status("thinking...", spinner="dots")
            self._status.start()

    def end(self) -> None:
        """Stop the spinner and end a streamed answer's line."""
        self._stop_status()
        if self.streamed and not self.streamed_text.endswith("\n"):
            self._c.out.print()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _say(self, message: str) -> None:
        if self._status is not None:
            self._status.console.print(message)
        else:
            self._c.err.print(message)

    def __call__(self, event: PlannerEvent) -> None:
        """Render one planner event (a pause is announced by whoever shows the result)."""
        kind = event.event_type
        name = escape(event.node_name or "?")
        if kind == "llm_request" and self._status is not None:
            self._status.update("thinking...")
        elif kind == "tool_call_start":
            self._say(f"  [cyan]→[/] calling [bold]{name}[/]")
            if self._status is not None:
                self._status.update(f"running {name}...")
        elif kind == "tool_call_result":
            took = f" ({event.latency_ms:.0f} ms)" if event.latency_ms is not None else ""
            self._say(f"  [green]✓[/] {name}{took}")
        elif kind == "tool_call_error":
            self._say(f"  [red]✗[/] {name}: {escape(str(event.error or 'failed'))}")
        elif kind == "stream_chunk" and event.extra.get("source") == "tool" and event.text:
            self._say(f"    [dim]{name}: {escape(event.text)}[/]")
        elif kind == "stream_chunk" and event.extra.get("source") == "llm":
            self._stream(event)
        elif kind == "repair_attempt" and event.extra.get("stage") == "llm":
            self._say("  [yellow]↻[/] the model's reply was invalid; asking again")
        elif kind == "resume":
            decisions = event.extra.get("decisions") or {}
            shown = ", ".join(f"{k} {v}" for k, v in decisions.items())
            self._say(f"  [green]▶[/] resumed{escape(': ' + shown if shown else '')}")

    def _stream(self, event: PlannerEvent) -> None:
        if not self._stream_answer or not event.text:
            return
        if not self.streamed:
            self._stop_status()
            self.streamed = True
        self.streamed_text += event.text
        self._c.out.print(event.text, end="", markup=False)
        self._c.out.file.flush()


def pause_fields(pause: Any) -> dict[str, Any]:
    """The fields of a ``PlannerPause`` (or a mapping) as plain JSON."""
    if isinstance(pause, Mapping):
        return {str(k): jsonable(v) for k, v in pause.items()}
    names = ("reason", "payload", "resume_token", "pending_calls", "expires_at", "run_id")
    return {name: jsonable(getattr(pause, name, None)) for name in names}


def describe_pending_call(call: Any) -> tuple[str, str]:
    """``(tool name, arguments as JSON)`` of one pending call."""
    data = jsonable(call)
    if not isinstance(data, Mapping):
        return "?", short_json(data)
    tool = data.get("tool") or data.get("node") or data.get("name") or "?"
    return str(tool), short_json(data.get("args", {}), 400)


def pending_calls_table(calls: Sequence[Any]) -> Table:
    """A table of the calls a pause waits on."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("tool")
    table.add_column("arguments", overflow="fold")
    for index, call in enumerate(calls, 1):
        tool, args = describe_pending_call(call)
        table.add_row(str(index), escape(tool), escape(args))
    return table


def run_state_steps(state: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """Find the query and trajectory steps in a stored run state."""
    if not isinstance(state, Mapping):
        return None, []
    if isinstance(state.get("steps"), list):
        query = state.get("query")
        return (query if isinstance(query, str) else None), [
            dict(s) for s in state["steps"] if isinstance(s, Mapping)
        ]
    for value in state.values():
        if isinstance(value, Mapping):
            query, steps = run_state_steps(value)
            if steps or query:
                return query, steps
    return None, []


def stdout_is_terminal() -> bool:
    """Whether stdout is an interactive terminal."""
    return sys.stdout.isatty()
