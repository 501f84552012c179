"""``penguiflow new``: each template's project passes its own tests offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import cli_env, penguiflow_inline


# The react template is tested by the quickstart test (tests/cli/test_quickstart_doc.py).
@pytest.mark.parametrize("template", ["mcp", "hitl"])
def test_scaffolded_project_tests_pass_offline(tmp_path: Path, template: str) -> None:
    made = penguiflow_inline("new", "my-agent", "--template", template, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "my-agent"
    for name in ("agent.toml", "offline.py", "tests/test_agent.py", "README.md"):
        assert (project / name).is_file(), name
    assert 'name = "my-agent"' in (project / "agent.toml").read_text()
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=cli_env(),
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_new_refuses_a_non_empty_directory_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    done = penguiflow_inline("new", "taken", cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists and is not empty" in done.stderr
    done = penguiflow_inline("new", "1bad name", cwd=tmp_path)
    assert done.returncode == 2
    assert "must start with a letter" in done.stderr
    done = penguiflow_inline("new", "ok", "--template", "nope", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
