import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(relative: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / relative)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_example():
    out = run_example("examples/quickstart/flow.py")
    assert "HELLO PENGUINS (2 words)" in out


def test_roadmap_status_updates_example():
    out = run_example("examples/roadmap_status_updates/flow.py")
    lines = out.splitlines()
    assert lines[:3] == [
        "[0] runtime: shipped",
        "[1] planner: in review",
        "[2] memory: in progress",
    ]
    assert lines[-1].startswith("Roadmap: runtime shipped")


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


def run_script(tmp_path: Path, code: str) -> str:
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hello_agent_example() -> None:
    out = run_example("examples/hello_agent/agent.py")
    assert out.strip() == "All tools were called."


def test_the_readme_starts_with_the_hello_agent(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    first_screen = text.split("## ", 1)[0]
    commands = [line for line in first_screen.splitlines() if line.startswith("make ")]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]
    agent = readme_blocks()[0]
    assert agent in (ROOT / "examples" / "hello_agent" / "agent.py").read_text()
    assert len(agent.strip().splitlines()) <= 12
    assert "from penguiflow import Agent, tool\n" in agent
    assert run_script(tmp_path, agent).strip() == "All tools were called."


def test_the_readme_flow_runs(tmp_path: Path) -> None:
    assert run_script(tmp_path, readme_blocks()[1]).strip() == "HELLO"


def test_local_model_example_runs_offline() -> None:
    assert run_example("examples/local_model/agent.py").strip() == "answer_complete: 391"
