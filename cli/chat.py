"""``penguiflow chat``: talk to an agent in the terminal.

Each line is one run of the planner in the same session, so memory carries across
turns. Tool calls are shown as they happen and the answer is streamed. A pause is
decided inline (approve / reject / edit / answer). Ctrl-C cancels the current turn
(its tool calls are cancelled through the runtime) and the chat goes on; Ctrl-C or
Ctrl-D at the prompt, or ``/exit``, ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from rich.markup import escape

from ._common import EXIT_OK, add_store_options, agent_from_args, is_pause, non_empty
from ._ui import Activity, Consoles, pause_fields, pending_calls_table
from .run import render_result

__all__ = ["add_parsers", "cmd_chat"]

_HELP = "/tools lists the tools, /exit quits; Ctrl-C cancels a turn"


def add_parsers(commands: Any) -> None:
    """Register ``chat``."""
    chat = commands.add_parser(
        "chat",
        help="chat with the agent in the terminal",
        description="Interactive chat: memory across turns, tool activity, streamed "
        "answers, approvals asked inline. Ctrl-C cancels the current turn.",
    )
    add_store_options(chat)
    chat.add_argument(
        "--model",
        "-m",
        metavar="MODEL",
        type=non_empty,
        help="LiteLLM model string (overrides [model])",
    )
    chat.add_argument(
        "--session",
        metavar="ID",
        type=non_empty,
        help="continue this session (default: a new one)",
    )
    chat.set_defaults(handler=cmd_chat)


class _EndOfInput(Exception):
    """stdin was closed (Ctrl-D, or the end of piped input)."""


def _read(consoles: Consoles, prompt: str) -> str:
    """Read one line; raises ``_EndOfInput`` on EOF and ``KeyboardInterrupt`` on Ctrl-C."""
    if sys.stdin.isatty():
        try:
            return consoles.out.input(prompt, markup=False)
        except EOFError:
            raise _EndOfInput() from None
    consoles.out.print(prompt, end="", markup=False)
    consoles.out.file.flush()
    line = sys.stdin.readline()
    if not line:
        raise _EndOfInput()
    return line.rstrip("\n")


class _Chat:
    def __init__(self, args: argparse.Namespace, consoles: Consoles) -> None:
        self.c = consoles
        self.agent = agent_from_args(args)
        self.session = args.session or f"chat-{uuid.uuid4().hex[:8]}"
        self.runner = asyncio.Runner()

    def banner(self) -> None:
        agent = self.agent
        tools = ", ".join(spec.name for spec in agent.catalog) or "none"
        out = self.c.out
        out.print(f"[bold]{escape(agent.name)}[/] · model {escape(agent.model_name)}")
        out.print(f"[dim]tools: {escape(tools)}[/]")
        out.print(f"[dim]session {self.session} · {_HELP}[/]")

    def loop(self) -> int:
        with self.runner:
            self.runner.run(self.agent.start())
            try:
                self.banner()
                while True:
                    try:
                        line = _read(self.c, "you> ").strip()
                    except (_EndOfInput, KeyboardInterrupt):
                        self.c.out.print()
                        break
                    if not line:
                        continue
                    if line in ("/exit", "/quit"):
                        break
                    if line == "/help":
                        self.c.out.print(_HELP)
                        continue
                    if line == "/tools":
                        for spec in self.agent.catalog:
                            self.c.out.print(f"  [bold]{escape(spec.name)}[/]: {escape(spec.desc)}")
                        continue
                    self.turn(line)
            finally:
                self.runner.run(self.agent.aclose())
        self.c.out.print("[dim]bye[/]")
        return EXIT_OK

    def turn(self, line: str) -> None:
        result = self._attempt(self.agent.run(line, session_id=self.session))
        while result is not None and is_pause(result):
            decision = self.decide(result)
            if decision is None:
                return
            result = self._attempt(self.agent.resume(result.resume_token, **decision))

    def _attempt(self, work: Any) -> Any:
        """Run one planner call with live activity; Ctrl-C cancels it and returns None."""
        activity = Activity(self.c)
        self.agent.on_event = activity

        async def tracked() -> Any:
            activity.begin()
            try:
                return await work
            finally:
                activity.end()

        try:
            result = self.runner.run(tracked())
        except KeyboardInterrupt:
            self.c.err.print("[yellow]turn cancelled[/]")
            return None
        finally:
            self.agent.on_event = None
        if not is_pause(result):
            render_result(self.c, result, activity=activity)
        return result

    def decide(self, pause: Any) -> dict[str, Any] | None:
        """Ask the human how to resume; ``None`` leaves the pause pending."""
        fields = pause_fields(pause)
        err = self.c.err
        token = fields.get("resume_token")
        err.print(f"[bold yellow]⏸ {escape(str(fields.get('reason')))}[/]")
        if fields.get("payload"):
            err.print(f"  {escape(json.dumps(fields['payload'], ensure_ascii=False))}")
        calls = fields.get("pending_calls") or []
        if calls:
            err.print(pending_calls_table(calls))
        try:
            if all(isinstance(c, dict) and c.get("kind") == "input" for c in calls):
                return {"user_input": _read(self.c, "your answer> ")}
            while True:
                choice = _read(self.c, "approve? [y]es / [n]o / [e]dit> ").strip().lower()
                if choice in ("y", "yes"):
                    return {"approve": True}
                if choice in ("n", "no"):
                    reason = _read(self.c, "reason (optional)> ").strip()
                    return {"approve": False, **({"reason": reason} if reason else {})}
                if choice in ("e", "edit"):
                    edited = self._edited()
                    if edited is not None:
                        return {"approve": True, "edited_args": edited}
                    continue
                err.print("answer y, n or e")
        except (KeyboardInterrupt, _EndOfInput):
            err.print(
                f"\n[yellow]left pending[/]; decide later with: penguiflow resume {token} "
                "--approve | --reject"
            )
            return None

    def _edited(self) -> Any:
        text = _read(self.c, "new arguments (JSON)> ")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            self.c.err.print(f"[red]not JSON[/]: {escape(exc.msg)}")
            return None
        if not isinstance(value, dict | list):
            self.c.err.print("[red]give a JSON object of arguments[/]")
            return None
        return value


def cmd_chat(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow chat``."""
    return _Chat(args, consoles).loop()
