"""Runs the Python blocks of docs/agent.md, each in a fresh process, offline.

A block preceded by ``<!-- not run: ... -->`` needs something the suite does not have (an
API key); it is only checked to compile.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "agent.md"
BLOCK = re.compile(r"(<!-- not run: [^>]*-->\n)?^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[bool, str]]:
    return [(m.group(1) is None, m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def test_the_doc_has_runnable_blocks() -> None:
    runnable = [code for run, code in blocks() if run]
    assert len(runnable) >= 8


@pytest.mark.parametrize(("run", "code"), blocks(), ids=[f"block{i}" for i in range(len(blocks()))])
def test_each_block_runs(run: bool, code: str, tmp_path: Path) -> None:
    compile(code, str(DOC), "exec")
    if not run:
        return
    shutil.copy(REPO / "examples" / "mcp_agent" / "notes_server.py", tmp_path)
    script = tmp_path / "block.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
