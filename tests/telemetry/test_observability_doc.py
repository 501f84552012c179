"""docs/observability.md: its code compiles, and its tables name what telemetry emits."""

from __future__ import annotations

import re
from pathlib import Path

from otel_helpers import EVERY_METRIC

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
TEXT = DOC.read_text(encoding="utf-8")


def _table_after(heading: str) -> list[str]:
    """The first cell of each row of the first table under ``heading``."""
    section = TEXT.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [row.split("|")[1].strip().strip("`") for row in rows]


def test_every_python_block_compiles() -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", TEXT, re.S | re.M)
    assert len(blocks) >= 3
    for code in blocks:
        compile(code, str(DOC), "exec")


def test_the_metrics_table_lists_every_metric() -> None:
    assert set(_table_after("Metrics")) == EVERY_METRIC


def test_the_spans_table_lists_every_span() -> None:
    assert _table_after("Spans") == [
        "invoke_agent {name}",
        "chat {model}",
        "execute_tool {tool}",
        "node {node}",
        "pause",
        "resume",
        "process job",
    ]
