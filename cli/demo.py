"""``penguiflow demo``: the whole mission, offline, in one run.

1. Start the bundled MCP server (a small shop) over stdio.
2. Run an agent (offline deterministic LLM client) on a refund request: it calls the MCP
   tool ``shop.get_order`` and the Python tool ``refund_policy``, then asks to run
   ``shop.issue_refund``, which needs approval.
3. The run pauses; the pause is committed to SQLite and this process lets go of it.
4. A human approves (interactively, or ``--yes``) and a **second process**
   (``penguiflow resume TOKEN --approve``) claims the pause, runs the refund exactly
   once and prints the final answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.rule import Rule

from ..sessions import PauseStatus
from ._common import EXIT_FAILED, EXIT_OK, is_pause
from ._ui import Activity, Consoles, pause_fields, pending_calls_table

__all__ = ["DEMO_QUESTION", "add_parsers", "write_demo_config"]

DEMO_QUESTION = "My order A-1002 arrived damaged. Can I get my money back?"
_SERVER = Path(__file__).resolve().parent / "_demo_mcp_server.py"


def add_parsers(commands: Any) -> None:
    """Register ``demo``."""
    demo = commands.add_parser(
        "demo",
        help="run the offline demo: MCP + Python tools, an approval, a resume elsewhere",
        description="Offline, no API key: an agent answers a refund request with an MCP "
        "tool and a Python tool, pauses before the refund for approval (stored in "
        "SQLite), and a second process resumes it.",
    )
    demo.add_argument("--yes", "-y", action="store_true", help="approve without asking")
    demo.add_argument("--dir", metavar="DIR", help="keep the demo's files (config, database) here")
    demo.set_defaults(handler=cmd_demo)


def write_demo_config(directory: Path) -> Path:
    """Write the demo's agent config (and nothing else) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    database = (directory / "demo.sqlite3").resolve()
    ledger = (directory / "refunds.jsonl").resolve()
    text = f"""\
# The demo agent. Try: penguiflow chat --config {directory / "agent.toml"}
name = "refund-desk"
system_prompt = "You handle refund requests. Check the order and the policy first."

[model]
# An offline, deterministic stand-in for a model (no API key needed).
client = "penguiflow.cli._demo_agent:demo_llm"

[[tools]]
type = "python"
path = "penguiflow.cli._demo_agent:refund_policy"

[[tools]]
type = "mcp"
name = "shop"
connection = [{json.dumps(sys.executable)}, "-P", {json.dumps(str(_SERVER))}]
allow = ["get_order", "issue_refund"]
require_approval = ["issue_refund"]
env = {{ PENGUIFLOW_DEMO_LEDGER = {json.dumps(str(ledger))} }}
public_env = ["PENGUIFLOW_DEMO_LEDGER"]   # env values are masked as secrets, except these

[store]
url = {json.dumps(f"sqlite+aiosqlite:///{database}")}
"""
    path = directory / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def _first_run(config: Path, consoles: Consoles) -> Any:
    from ..planner.agent import Agent

    activity = Activity(consoles)
    async with Agent.from_file(config) as agent:
        consoles.out.print(
            f"tools: {', '.join(spec.name for spec in agent.catalog)} "
            "[dim](shop.* from the MCP server, refund_policy in Python)[/]"
        )
        consoles.out.print(f"[bold]customer:[/] {DEMO_QUESTION}")
        agent.on_event = activity
        activity.begin()
        try:
            result = await agent.run(DEMO_QUESTION, session_id="demo")
        finally:
            activity.end()
        if is_pause(result):
            pauses = await agent.store.list_pauses(
                tenant_id=agent.tenant_id, status=PauseStatus.PENDING
            )
            consoles.out.print(
                f"[dim]pending pauses in {escape(agent.store.url)}: {len(pauses)}[/]"
            )
    return result


def _ask(consoles: Consoles) -> bool:
    try:
        reply = consoles.out.input("Approve this refund? [y/N] ", markup=False)
    except EOFError:
        return False
    return reply.strip().lower() in ("y", "yes")


def _resume_in_second_process(config: Path, token: str, approve: bool, consoles: Consoles) -> int:
    decision = ["--approve"] if approve else ["--reject", "--reason", "not approved in the demo"]
    command = [
        sys.executable,
        "-P",
        "-m",
        "penguiflow.cli",
        "resume",
        token,
        *decision,
        "--config",
        str(config),
    ]
    shown = f"penguiflow resume {token[:6]}… {' '.join(decision)} --config {config}"
    consoles.out.print(f"[dim]$ {escape(shown)}[/]")
    consoles.out.file.flush()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(command, env=env, check=False).returncode


def _run_demo(args: argparse.Namespace, consoles: Consoles, directory: Path) -> int:
    out = consoles.out
    config = write_demo_config(directory)
    out.print(Rule("1. an agent with an MCP server and a Python tool"))
    result = asyncio.run(_first_run(config, consoles))
    if not is_pause(result):
        out.print("[yellow]the run finished without asking for approval[/]")
        answer = getattr(getattr(result, "payload", None), "raw_answer", None)
        if answer:
            out.print(f"[bold]answer:[/] {escape(answer)}")
        return EXIT_FAILED
    fields = pause_fields(result)
    out.print(Rule("2. paused for approval; the pause is stored in SQLite"))
    out.print(f"reason: {escape(str(fields.get('reason')))}")
    out.print(pending_calls_table(fields.get("pending_calls") or []))
    out.print("[dim]This process has stopped the agent; only the database holds the run.[/]")
    approve = True if args.yes else _ask(consoles)
    out.print(Rule(f"3. {'approved' if approve else 'rejected'}: resuming in a second process"))
    code = _resume_in_second_process(config, str(fields["resume_token"]), approve, consoles)
    ledger = directory / "refunds.jsonl"
    refunds = ledger.read_text(encoding="utf-8").splitlines() if ledger.exists() else []
    out.print(Rule("4. done"))
    ran = "the approved call ran exactly once" if approve else "the rejected call never ran"
    out.print(f"refunds issued: {len(refunds)} ({ran})")
    if args.dir:
        out.print(f"[dim]inspect it: penguiflow runs list --config {escape(str(config))}[/]")
    return EXIT_OK if code == 0 else EXIT_FAILED


def cmd_demo(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow demo [--yes] [--dir DIR]``."""
    if args.dir:
        return _run_demo(args, consoles, Path(args.dir).resolve())
    with tempfile.TemporaryDirectory(prefix="penguiflow-demo-") as tmp:
        return _run_demo(args, consoles, Path(tmp))
