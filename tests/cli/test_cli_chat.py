"""``penguiflow chat``: driven through stdin and through a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from pathlib import Path

from cli_support import COMMAND, cli_env, penguiflow, penguiflow_inline


def test_chat_over_stdin_remembers_shows_tools_and_asks_approval(agent_dir: Path) -> None:
    script = "\n".join(
        [
            "my name is Ada",
            "please add 2 and 3",
            "what is my name",
            "transfer 20 to bob",
            "y",
            "what is my favourite colour?",
            "green",
            "/exit",
        ]
    )
    done = penguiflow("chat", input=script + "\n", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Nice to meet you, Ada." in out
    assert "The sum is 5." in out
    assert "Your name is Ada." in out  # memory across turns
    assert "calling add" in done.stderr  # tool activity
    assert "approve? [y]es / [n]o / [e]dit>" in out
    assert "Transferred 20 to bob." in out
    assert "your answer>" in out and "Your favourite colour is green." in out
    assert (agent_dir / "transfers.log").read_text() == "20 bob\n"
    assert out.rstrip().endswith("bye")


def test_chat_session_memory_survives_a_restart(agent_dir: Path) -> None:
    first = penguiflow_inline(
        "chat", "--session", "s-42", input="my name is Grace\n", cwd=agent_dir
    )
    assert first.returncode == 0, first.stderr  # EOF ends the chat
    second = penguiflow_inline(
        "chat", "--session", "s-42", input="what is my name\n", cwd=agent_dir
    )
    assert "Your name is Grace." in second.stdout
    other = penguiflow_inline(
        "chat", "--session", "s-other", input="what is my name\n", cwd=agent_dir
    )
    assert "I do not know." in other.stdout


class Terminal:
    """The CLI on a pseudo-terminal: what a user types, and what they see."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = cli_env(COLUMNS="120", TERM="dumb")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the CLI
            os.chdir(cwd)
            os.execve(COMMAND[0], [*COMMAND, *args], env)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the CLI exited before {text!r}:\n{self.seen}")
                self.seen += chunk.decode(errors="replace")
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.2)[0]:
                    os.read(self.fd, 4096)
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError("the CLI did not exit")


def test_ctrl_c_cancels_the_turn_then_inline_reject_and_edit(agent_dir: Path) -> None:
    term = Terminal(agent_dir, "chat")
    try:
        term.expect("you> ")
        term.type("do something slow\r")
        term.expect("calling slow")
        deadline = time.monotonic() + 30
        while not (agent_dir / "slow-started.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        term.type("\x03")  # Ctrl-C, as a user presses it
        term.expect("turn cancelled")
        term.expect("you> ")
        assert (agent_dir / "slow-cancelled.txt").read_text() == "cancelled"

        term.type("transfer 70 to bob\r")
        term.expect("[e]dit>")
        term.type("n\r")
        term.expect("reason (optional)>")
        term.type("over budget\r")
        term.expect("The transfer was not made.")
        term.expect("you> ")

        term.type("transfer 80 to bob\r")
        term.expect("[e]dit>")
        term.type("e\r")
        term.expect("new arguments (JSON)>")
        term.type('{"amount": 8, "to": "carol"}\r')
        term.expect("Transferred 8 to carol.")
        term.expect("you> ")
        term.type("/exit\r")
        assert term.wait() == 0
    except BaseException:
        if term.pid:
            try:
                os.kill(term.pid, signal.SIGKILL)
                os.waitpid(term.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        raise
    assert (agent_dir / "transfers.log").read_text() == "8 carol\n"
