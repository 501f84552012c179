"""The react_agent example runs offline, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "react_agent" / "agent.py"


def _run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PENGUIFLOW_MODEL"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_scripted_demo_answers_with_a_parallel_step() -> None:
    out = _run()
    assert "reason: answer_complete" in out
    assert "answer: Lisbon is warmer" in out
    assert out.count("-> get_weather") == 2 and "-> compare_weather" in out
    assert "looked up Oslo (metric)" in out
    assert "tool calls: 3" in out


@pytest.mark.slow
def test_test_llm_demo_calls_every_tool() -> None:
    out = _run("--test-llm")
    assert "reason: answer_complete" in out
    for name in ("get_weather", "compare_weather", "list_cities"):
        assert f"-> {name}" in out
