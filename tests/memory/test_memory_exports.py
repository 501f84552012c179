from __future__ import annotations

import re
from pathlib import Path

import penguiflow.memory as memory
from penguiflow.errors import RunError, UsageError
from penguiflow.memory import errors


def test_all_is_sorted_and_real() -> None:
    names = memory.__all__
    assert len(names) == len(set(names))
    constants = [n for n in names if n.isupper()]
    classes = [n for n in names if n[0].isupper() and not n.isupper()]
    functions = [n for n in names if n[0].islower()]
    assert names == sorted(constants) + sorted(classes) + sorted(functions)
    for name in names:
        assert hasattr(memory, name), name


def test_architecture_names_are_exported() -> None:
    architecture = Path(__file__).resolve().parents[2] / ".." / "shared" / "ARCHITECTURE.md"
    promised = {"ShortTermMemoryConfig", "MemoryBudget", "MemoryKey"}
    if architecture.exists():
        line = next(
            row
            for row in architecture.read_text().splitlines()
            if "penguiflow.memory import" in row
        )
        promised |= set(re.findall(r"\b[A-Z]\w+", line.split("import", 1)[1]))
    assert promised <= set(memory.__all__)


def test_errors_hang_off_the_penguiflow_tree() -> None:
    assert issubclass(errors.MemoryConfigError, UsageError)
    assert issubclass(errors.MemoryClosedError, UsageError)
    for error in (
        errors.MemoryBudgetError,
        errors.MemoryStoreError,
        errors.MemoryConflictError,
        errors.MemoryStateError,
        errors.SummarizerError,
    ):
        assert issubclass(error, RunError)


def test_memory_does_not_import_planner_or_heavy_packages() -> None:
    root = Path(memory.__file__).resolve().parent
    for source in root.glob("*.py"):
        text = source.read_text()
        for banned in ("planner", "sqlalchemy", "litellm", "mcp"):
            assert not re.search(rf"^\s*(from|import)\s+[\w.]*{banned}", text, re.M), (
                source.name,
                banned,
            )
