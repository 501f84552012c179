"""What the real ``penguiflow`` command shows: activity once, MCP servers' stderr kept aside,
listings that fit an 80-column terminal and a pipe, and refusals in the command line's terms.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

import pytest
from cli_support import COMMAND, cli_env, penguiflow, token_of

from penguiflow.sessions import SqlSessionStore

DEMO_SERVER = Path(__file__).resolve().parents[1] / "tools" / "servers" / "demo_server.py"


def add_mcp_server(agent_dir: Path, *args: str, allow: str = '["add"]') -> None:
    """Give the test agent a stdio MCP server (the tools tests' demo server)."""
    command = ", ".join(f'"{part}"' for part in ["{python}", str(DEMO_SERVER), *args])
    config = agent_dir / "agent.toml"
    config.write_text(
        config.read_text()
        + f'\n[[tools]]\ntype = "mcp"\nname = "demo"\nconnection = [{command}]\nallow = {allow}\n'
    )


def test_mcp_server_stderr_stays_out_of_the_activity_and_goes_to_the_log(agent_dir: Path) -> None:
    add_mcp_server(agent_dir, "--say-env", "DEMO_MODE")
    config = agent_dir / "agent.toml"
    config.write_text(
        config.read_text() + 'env = { DEMO_MODE = "quiet" }\npublic_env = ["DEMO_MODE"]\n'
    )
    log = agent_dir / "cli.log"

    plain = penguiflow("--log-file", str(log), "run", "please add 2 and 40", cwd=agent_dir)
    assert plain.returncode == 0, plain.stderr
    assert "calling add" in plain.stderr
    assert "starting with DEMO_MODE" not in plain.stderr + plain.stdout
    assert "demo: starting with DEMO_MODE=quiet" in log.read_text()

    debug = penguiflow("--debug", "run", "please add 2 and 40", cwd=agent_dir)
    assert debug.returncode == 0, debug.stderr
    assert "penguiflow.tools.mcp.stderr: demo: starting with DEMO_MODE=quiet" in debug.stderr


BOOM_TOOLS = """
from pydantic import BaseModel
from penguiflow import tool

class Args(BaseModel):
    n: int

class Out(BaseModel):
    n: int

@tool(desc="Always fails")
async def boom(args: Args, ctx) -> Out:
    raise RuntimeError("kaboom")
"""

BOOM_LLM = """
from penguiflow.planner import FunctionLLM

def make_client():
    def reply(messages, response_format):
        if any("kaboom" in str(m.get("content", "")) for m in messages):
            return {"thought": "done", "next_node": "final_response", "args": {"answer": "failed"}}
        return {"thought": "try", "next_node": "boom", "args": {"n": 1}}
    return FunctionLLM(reply)
"""


def test_a_failed_tool_call_is_shown_once_without_a_runtime_warning(tmp_path: Path) -> None:
    (tmp_path / "boom_tools.py").write_text(BOOM_TOOLS)
    (tmp_path / "boom_llm.py").write_text(BOOM_LLM)
    (tmp_path / "agent.toml").write_text(
        '[model]\nclient = "boom_llm:make_client"\n'
        '[[tools]]\ntype = "python"\npath = "boom_tools:boom"\nmax_retries = 1\n'
    )
    done = penguiflow("run", "go", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("kaboom") == 1, done.stderr
    assert "✗ boom" in done.stderr
    assert "WARNING" not in done.stderr and "node failed" not in done.stderr


def test_a_pause_is_announced_once(agent_dir: Path) -> None:
    done = penguiflow("run", "transfer 30 to bob", cwd=agent_dir)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("paused") == 1, done.stderr
    assert done.stderr.count("approval_required") == 1, done.stderr


def test_a_used_token_is_refused_before_any_server_starts(agent_dir: Path) -> None:
    starts = agent_dir / "server-starts.txt"
    add_mcp_server(agent_dir, "--mark-start", str(starts))
    token = token_of(penguiflow("run", "transfer 30 to bob", cwd=agent_dir).stdout)
    assert penguiflow("resume", token, "--approve", cwd=agent_dir).returncode == 0
    assert len(starts.read_text().splitlines()) == 2  # the run, and the resume

    again = penguiflow("resume", token, "--approve", cwd=agent_dir)
    assert again.returncode == 1
    assert len(starts.read_text().splitlines()) == 2, "a server was started for a used token"
    message = again.stderr.strip()
    assert message.startswith("error: this resume token was already used")
    assert "already resumed" in message and "penguiflow pauses show" in message
    assert "`outcome`" not in message  # no Python attribute names
    assert (agent_dir / "transfers.log").read_text() == "30 bob\n"

    unknown = penguiflow("resume", "pf_not-a-real-token", "--approve", cwd=agent_dir)
    assert unknown.returncode == 1
    assert "--tenant" in unknown.stderr and "tenant_id" not in unknown.stderr
    assert len(starts.read_text().splitlines()) == 2


def test_a_decision_that_does_not_fit_the_pause_is_refused_in_flag_terms(agent_dir: Path) -> None:
    starts = agent_dir / "server-starts.txt"
    add_mcp_server(agent_dir, "--mark-start", str(starts))
    approval = token_of(penguiflow("run", "transfer 30 to bob", cwd=agent_dir).stdout)
    question = token_of(penguiflow("run", "what is my favourite colour?", cwd=agent_dir).stdout)
    cases = [
        ([approval, "--input", "yes"], "decide with --approve, --reject [--reason R] or --edit"),
        ([approval, "--edit", '[{"amount": 1}, null]'], "--edit has 2 entries"),
        ([question, "--approve"], "give it with --input TEXT"),
    ]
    for args, expected in cases:
        done = penguiflow("resume", *args, cwd=agent_dir)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        for python_words in ("user_input", "approve=", "edited_args", "approvals="):
            assert python_words not in done.stderr
    assert len(starts.read_text().splitlines()) == 2  # only the two runs started a server
    answered = penguiflow("resume", question, "--input", "teal", cwd=agent_dir)
    assert "Your favourite colour is teal." in answered.stdout


def test_a_server_that_fails_to_start_is_named_without_a_traceback(agent_dir: Path) -> None:
    script = "import sys; print('fatal: SHOP_DB is not set', file=sys.stderr); sys.exit(3)"
    config = agent_dir / "agent.toml"
    config.write_text(
        config.read_text()
        + f'\n[[tools]]\ntype = "mcp"\nname = "shop"\nconnection = ["{{python}}", "-c", "{script}"]\n'
        + 'allow = ["*"]\n'
    )
    done = penguiflow("run", "please add 2 and 40", cwd=agent_dir)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "TaskGroup" not in done.stderr
    assert "tool server 'shop': the MCP server exited with status 3 while starting" in done.stderr
    assert "| fatal: SHOP_DB is not set" in done.stderr


def test_an_allow_entry_matching_no_tool_is_a_warning_with_the_near_names(agent_dir: Path) -> None:
    add_mcp_server(agent_dir, allow='["add", "ech0"]')
    done = penguiflow("run", "please add 2 and 40", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    assert "allow entry 'ech0' matches none of the server's tools; did you mean 'echo'?" in (
        done.stderr
    )


THREADED_TOOLS = """
import threading

def _fail():
    raise ConnectionError("the worker lost its connection")

threading.Thread(target=_fail, name="store-worker").start()
"""


def test_a_background_thread_failure_is_logged_not_printed(agent_dir: Path) -> None:
    # A library's worker thread that fails (as a database driver's may, once the event
    # loop is gone) must not print a traceback over the command's output.
    (agent_dir / "threaded.py").write_text(THREADED_TOOLS + "\nfrom cli_tools import add\n")
    config = agent_dir / "agent.toml"
    config.write_text(config.read_text().replace('path = "cli_tools:add"', 'path = "threaded:add"'))
    done = penguiflow("run", "please add 2 and 40", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception in thread" not in done.stderr
    debug = penguiflow("--debug", "run", "please add 2 and 40", cwd=agent_dir)
    assert "background thread store-worker failed: ConnectionError" in debug.stderr


# -- listings ------------------------------------------------------------------------------

REASON = "approval_required"


@pytest.fixture
async def store_with_pauses(tmp_path: Path) -> tuple[str, list[str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'listing.sqlite3'}"
    ids = []
    async with SqlSessionStore(url) as store:
        for n in range(3):
            state = {"query": f"please refund order A-{n} in full", "steps": []}
            run = await store.create_run(tenant_id="default", state=state)
            ticket = await store.create_pause(
                run.run_id,
                tenant_id="default",
                reason=REASON,
                payload={"message": "refund needs approval"},
                pending_calls=[{"call_id": "c1", "tool": "shop.issue_refund", "args": {}}],
                run_state=state,
                expected_run_version=run.version,
            )
            ids.append(ticket.pause.pause_id)
    return url, ids


def run_on_terminal(cwd: Path, *args: str, columns: int = 80) -> str:
    """Run the command on a pseudo-terminal ``columns`` wide; return what it showed."""
    env = cli_env(COLUMNS=str(columns), TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI
        os.chdir(cwd)
        os.execve(COMMAND[0], [*COMMAND, *args], env)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode()).replace("\r", "")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("command", ["pauses", "runs"])
def test_listings_fit_an_80_column_terminal(tmp_path: Path, store_with_pauses, command) -> None:
    url, pause_ids = store_with_pauses
    shown = run_on_terminal(tmp_path, command, "list", "--store", url)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) == 4, shown  # a header and one line per record, nothing wrapped
    assert all(len(line) <= 80 for line in lines), shown
    if command == "pauses":
        assert {line.split()[0] for line in lines[1:]} == set(pause_ids)  # ids whole
        assert all(" pending " in line for line in lines[1:])


@pytest.mark.parametrize("command", ["pauses", "runs"])
def test_listings_through_a_pipe_keep_every_value_whole(tmp_path: Path, store_with_pauses, command):
    url, pause_ids = store_with_pauses
    done = penguiflow(command, "list", "--store", url, cwd=tmp_path, COLUMNS="80")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4, done.stdout  # a header and one line per record
    assert "│" not in done.stdout and "┃" not in done.stdout
    body = lines[1:]
    if command == "pauses":
        assert lines[0].split()[:2] == ["pause", "id"]
        assert {line.split()[0] for line in body} == set(pause_ids)
        assert all(REASON in line and "shop.issue_refund" in line for line in body)
    else:
        assert all("please refund order A-" in line and "paused" in line for line in body)
