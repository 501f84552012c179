"""Each package root exports what users write; names that left a root still resolve, with a warning."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOTS = [
    "penguiflow",
    "penguiflow.planner",
    "penguiflow.tools",
    "penguiflow.memory",
    "penguiflow.sessions",
]

ARCHITECTURE = Path(__file__).resolve().parents[1] / ".." / "shared" / "ARCHITECTURE.md"


@pytest.mark.parametrize("root", ROOTS)
def test_all_is_unique_and_every_name_resolves(root: str) -> None:
    module = importlib.import_module(root)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{root}.{name}"


def test_the_roots_stay_small() -> None:
    total = sum(len(importlib.import_module(root).__all__) for root in ROOTS)
    assert total <= 120, f"the package roots export {total} names"


def test_the_names_promised_in_the_architecture_are_exported() -> None:
    if not ARCHITECTURE.exists():
        pytest.skip("the architecture document is not beside this checkout")
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    runtime = section.split("Runtime (`from penguiflow import ...`):", 1)[1].split(".\n", 1)[0]
    promised = set(re.findall(r"`(\w+)`", runtime))
    import penguiflow

    assert promised <= set(penguiflow.__all__), promised - set(penguiflow.__all__)
    for name in ("Agent", "tool", "ReactPlanner", "PlannerFinish", "PlannerPause"):
        assert name in penguiflow.__all__


@pytest.mark.parametrize(
    ("root", "name", "module"),
    [
        ("penguiflow", "UsageError", "penguiflow.errors"),
        ("penguiflow", "FlowStats", "penguiflow.flow"),
        ("penguiflow.planner", "LLMRateLimitError", "penguiflow.planner.errors"),
        ("penguiflow.planner", "RunState", "penguiflow.planner.run_state"),
        ("penguiflow.tools", "ToolTimeoutError", "penguiflow.tools.errors"),
        ("penguiflow.memory", "Turn", "penguiflow.memory.turns"),
        ("penguiflow.sessions", "PauseTicket", "penguiflow.sessions.models"),
    ],
)
def test_a_name_that_left_a_root_still_resolves_with_a_warning(
    root: str, name: str, module: str
) -> None:
    package = importlib.import_module(root)
    assert name not in package.__all__
    with pytest.warns(DeprecationWarning, match=rf"import it from {re.escape(module)}"):
        value = getattr(package, name)
    assert value is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("root", ROOTS)
def test_an_unknown_name_is_an_attribute_error(root: str) -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = importlib.import_module(root).NoSuchThing


def test_importing_penguiflow_stays_light() -> None:
    code = (
        "import sys, penguiflow\n"
        "heavy = [m for m in ('penguiflow.planner', 'litellm', 'sqlalchemy', 'mcp', 'redis') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
