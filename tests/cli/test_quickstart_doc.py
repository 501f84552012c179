"""Runs every code block of docs/quickstart.md, in order, as a reader would.

bash blocks run line by line (``cd`` moves the reader; ``TOKEN`` is the resume token
printed last; a ``# ... exit status N`` comment gives the expected status); ``make``
lines are checked with ``make -n`` in the repository (running the whole suite from
inside itself is not possible); toml blocks must match the scaffolded config; python
blocks run where the reader is and must match the scaffolded file they show.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from cli_support import cli_env

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "quickstart.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
STDIN = {"penguiflow chat": "How many words are in this sentence?\n/exit\n"}


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def test_every_quickstart_block_runs(tmp_path: Path) -> None:
    env = cli_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cwd, token, outputs = tmp_path, None, []
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("bash") >= 4 and "python" in kinds and "toml" in kinds
    for kind, body in blocks():
        if kind == "toml":
            shown = tomllib.loads(body)
            assert shown == tomllib.loads((tmp_path / "my-agent" / "agent.toml").read_text())
            continue
        if kind == "python":
            scaffolded = [p.read_text() for p in cwd.glob("*.py")]
            if "@tool" in body:
                assert any(body.strip() in text for text in scaffolded), "tools.py differs"
            done = subprocess.run(
                [sys.executable, "-c", body],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
            continue
        assert kind == "bash", kind
        for raw in body.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("cd "):
                cwd = (cwd / line[3:].strip()).resolve()
                continue
            if line.startswith("make "):
                target = line.split()[1]
                dry = subprocess.run(
                    ["make", "-n", target],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert dry.returncode == 0, dry.stderr
                if target == "demo":
                    assert "penguiflow demo --yes" in dry.stdout
                continue
            if "TOKEN" in line:
                assert token is not None, "no resume token was printed before"
                line = line.replace("TOKEN", token)
            expected = re.search(r"exit status (\d+)", raw)
            done = subprocess.run(
                line,
                shell=True,
                cwd=cwd,
                env=env,
                input=STDIN.get(line),
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            status = int(expected.group(1)) if expected else 0
            assert done.returncode == status, f"{line}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
            found = re.search(r"resume token: (\S+)", done.stdout)
            token = found.group(1) if found else token
    text = "\n".join(outputs)
    assert "refunds issued: 1" in text  # the demo
    assert "That text has 7 words and 36 characters." in text  # run and chat
    assert "1 passed" in text  # the scaffolded test
    assert "Posted: Lunch is at noon today" in text  # resume --approve
    assert "Posted: Lunch is tomorrow at noon" in text  # the Python block
