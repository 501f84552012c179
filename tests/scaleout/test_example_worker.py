"""examples/worker: queue three questions on a real Redis, answer them, exit."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scaleout_helpers import REPO_ROOT

pytestmark = pytest.mark.slow


def test_worker_example_answers_the_queued_questions(redis_server: str) -> None:
    result = subprocess.run(
        [sys.executable, "examples/worker/worker.py", "--redis", f"{redis_server}/0", "--demo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    answers = sorted(line.split(" ", 1)[1] for line in lines[:3])
    assert answers == [
        "completed: Lima: 19 C, cloud",
        "completed: Lisbon: 17.5 C, sun",
        "completed: Oslo: -3 C, snow",
    ]
    assert lines[3] == "completed=3 retried=0 failed=0"
