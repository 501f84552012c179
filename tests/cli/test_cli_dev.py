"""``penguiflow dev``: a ``penguiflow new`` project served, guarded, and stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import COMMAND, cli_env, penguiflow, penguiflow_inline

from penguiflow.errors import ConfigError
from penguiflow.planner.agent import Agent
from penguiflow.server.playground import load_dotenv, load_project


def new_project(parent: Path, template: str = "hitl") -> Path:
    made = penguiflow("new", "my-agent", "--template", template, cwd=parent)
    assert made.returncode == 0, made.stderr
    return parent / "my-agent"


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def dev_server(project: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*COMMAND, "dev", "--project-root", str(project), "--no-browser", "--port", "0", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the playground did not answer /health")


@pytest.mark.slow
def test_dev_serves_a_new_project_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    (project / ".env").write_text("MY_AGENT_GREETING=from-dotenv\n")
    with dev_server(project) as (proc, url):
        base, _, token = url.partition("/?token=")
        assert len(token) >= 32
        wait_healthy(base)
        assert "PenguiFlow playground" in httpx.get(f"{base}/").text
        assert httpx.get(f"{base}/api/info").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        info = httpx.get(f"{base}/api/info", headers=auth).json()
        assert info["name"] == "my-agent" and info["tools"] == 1
        started = httpx.post(
            f"{base}/api/runs", json={"query": "Lunch is at noon today"}, headers=auth
        )
        assert started.status_code == 202
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "loaded 1 variable(s)" in err and "playground stopped" in err


@pytest.mark.slow
def test_ctrl_c_closes_the_mcp_servers(tmp_path: Path) -> None:
    project = new_project(tmp_path, "mcp")
    with dev_server(project) as (proc, url):
        wait_healthy(url.partition("/?token=")[0])
        servers = children_of(proc.pid)
        assert servers, "the MCP server should run as a child process"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert not [pid for pid in servers if alive(pid)]


def test_a_remote_host_needs_allow_remote(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    refused = penguiflow_inline(
        "dev", "--project-root", str(project), "--host", "0.0.0.0", cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr


def test_the_browser_opens_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    project = new_project(tmp_path)
    opened: list[str] = []

    def fake_run(self: Any, sockets: Any = None) -> None:
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr("webbrowser.open", opened.append)
    result = penguiflow_inline("dev", "--project-root", str(project), "--port", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert opened == [result.stdout.strip()] and "?token=" in opened[0]
    quiet = penguiflow_inline(
        "dev", "--project-root", str(project), "--port", "0", "--no-browser", cwd=tmp_path
    )
    assert quiet.returncode == 0 and len(opened) == 1


def test_a_missing_project_says_how_to_make_one(tmp_path: Path) -> None:
    result = penguiflow_inline("dev", "--project-root", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "penguiflow new" in result.stderr and "agent.py" in result.stderr


def test_dotenv_never_overrides_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# settings\nexport A_KEY='quoted value'\nB=plain # comment\nALREADY=from-file\n\n"
    )
    env = {"ALREADY": "from-shell"}
    assert load_dotenv(dotenv, env) == ["A_KEY", "B"]
    assert env == {"ALREADY": "from-shell", "A_KEY": "quoted value", "B": "plain"}
    assert load_dotenv(tmp_path / "missing.env", env) == []
    dotenv.write_text("not a setting\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_dotenv(dotenv, {})


MODULE_AGENT = """\
from penguiflow import Agent

agent = Agent("test", name="from-module")
"""


def test_the_agent_config_wins_over_agent_py(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(MODULE_AGENT)
    alone = load_project(tmp_path)
    assert isinstance(alone, Agent) and alone.name == "from-module"
    with pytest.raises(ConfigError, match="--store"):
        load_project(tmp_path, store_url="sqlite+aiosqlite:///x.sqlite3")
    (tmp_path / "agent.toml").write_text('name = "from-config"\n')
    assert load_project(tmp_path).name == "from-config"
