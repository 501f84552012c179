import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("readme_block", [0])
def test_readme_example_runs(readme_block, tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    script = tmp_path / "readme_example.py"
    script.write_text(blocks[readme_block])
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "HELLO"
