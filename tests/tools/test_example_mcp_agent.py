"""Run examples/mcp_agent/agent.py as a subprocess (offline LLMs), like a user would."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "examples" / "mcp_agent" / "agent.py"


def run_agent(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PENGUIFLOW_MODEL"}
    result = subprocess.run(
        [sys.executable, str(AGENT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scripted_run_uses_the_mcp_tools():
    out = run_agent()
    assert "tools: notes.list_notes, notes.read_note" in out  # delete_note is not allowed
    assert "  -> notes.list_notes\n  -> notes.read_note" in out
    assert "answer: Emperor penguins huddle" in out
    assert "tool calls: 2" in out


async def test_test_llm_calls_every_allowed_tool(capfd):
    spec = importlib.util.spec_from_file_location("_pf_example_mcp_agent", AGENT)
    agent = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent)
    result = await agent.run_demo("anything", use_test_llm=True)
    out = capfd.readouterr().out
    assert "-> notes.list_notes" in out and "-> notes.read_note" in out
    assert result.reason == "answer_complete"
