"""``penguiflow runs list|show|recover``: stored runs, and runs whose process died."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.markup import escape

from ..errors import ConfigError
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PAUSED,
    add_limit_option,
    add_store_options,
    agent_from_args,
    is_pause,
    non_empty,
    open_store,
)
from ._ui import Column, Consoles, jsonable, print_listing, run_state_steps, short_json, when

__all__ = ["add_parsers", "render_steps"]

_STATUSES = ["running", "paused", "finished", "failed", "cancelled"]


def add_parsers(commands: Any) -> None:
    """Register ``runs list``, ``runs show`` and ``runs recover``."""
    runs = commands.add_parser("runs", help="list stored runs and show their trajectories")
    sub = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="list runs, most recent first")
    add_store_options(listing)
    listing.add_argument("--status", choices=_STATUSES, help="only runs in this status")
    listing.add_argument(
        "--session", metavar="ID", type=non_empty, help="only runs of this session"
    )
    listing.add_argument("--all-tenants", action="store_true", help="every tenant's runs")
    add_limit_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="show one run and its trajectory, step by step")
    show.add_argument("run_id", metavar="ID", help="a run id from `runs list`")
    add_store_options(show)
    show.add_argument("--json", action="store_true", help="print the stored record as JSON")
    show.set_defaults(handler=cmd_show)
    recover = sub.add_parser(
        "recover",
        help="continue the runs whose process died (their lease lapsed)",
        description="Take over, exactly once among all processes, each running run whose "
        "owner stopped renewing its lease (the process died), and continue it here from its "
        "last committed step, with the agent config it runs with. Exit status: 0 all "
        "finished (or none to recover), 3 one paused (its resume token is printed), 1 one "
        "failed.",
    )
    add_store_options(recover)
    recover.add_argument("--all-tenants", action="store_true", help="every tenant's runs")
    recover.add_argument("--limit", type=int, help="recover at most this many runs (all)")
    recover.add_argument("--json", action="store_true", help="print JSON")
    recover.set_defaults(handler=cmd_recover)


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def _list(args: argparse.Namespace, consoles: Consoles) -> int:
    async with open_store(args) as (store, config):
        records = await store.list_runs(
            tenant_id=None if args.all_tenants else (args.tenant or config.tenant),
            session_id=args.session,
            status=args.status,
            limit=args.limit,
        )
    if args.json:
        consoles.out.print_json(data=[jsonable(r) for r in records])
        return EXIT_OK
    if not records:
        consoles.out.print("no runs")
        return EXIT_OK
    columns = [
        Column("run id", "id"),
        Column("status", "word"),
        Column("steps", "word"),
        Column("query"),
        Column("updated", "word"),
        Column("session", wide_only=True),
        Column("tenant", wide_only=not args.all_tenants),
    ]
    rows = []
    for record in records:
        query, steps = run_state_steps(record.state)
        query = query or ""
        rows.append(
            [
                record.run_id,
                record.status.value,
                str(len(steps)),
                query if len(query) <= 60 else query[:57] + "...",
                when(record.updated_at),
                record.session_id or "-",
                record.tenant_id,
            ]
        )
    print_listing(consoles, columns, rows)
    return EXIT_OK


def render_steps(consoles: Consoles, steps: list[dict[str, Any]]) -> None:
    """Print a trajectory: each step's action, arguments, and what came back."""
    out = consoles.out
    if not steps:
        out.print("  (no tool steps)")
    for step in steps:
        raw = step.get("action")
        action: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        node = action.get("next_node", "?")
        kind = step.get("kind", "")
        took = step.get("latency_ms")
        timing = f" [dim]{took:.0f} ms[/]" if isinstance(took, int | float) else ""
        out.print(
            f"[bold]{step.get('index', '?')}.[/] [cyan]{escape(str(node))}[/] ({kind}){timing}"
        )
        thought = action.get("thought")
        if thought:
            out.print(f"   [dim]thought:[/] {escape(str(thought))}")
        args = action.get("args")
        if args:
            out.print(f"   [dim]args:[/]    {escape(short_json(args, 400))}")
        if step.get("error"):
            out.print(f"   [red]error:[/]   {escape(str(step['error']))}")
        if step.get("observation") is not None:
            out.print(f"   [dim]result:[/]  {escape(short_json(step['observation'], 400))}")


def _answer(state: Any) -> str | None:
    if not isinstance(state, Mapping):
        return None
    for key in ("answer", "final_answer", "raw_answer"):
        value = state.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and isinstance(value.get("raw_answer"), str):
            return str(value["raw_answer"])
    for value in state.values():
        if isinstance(value, Mapping):
            found = _answer(value)
            if found:
                return found
    return None


async def _show(args: argparse.Namespace, consoles: Consoles) -> int:
    async with open_store(args) as (store, config):
        tenant = args.tenant or config.tenant
        record = await store.get_run(args.run_id, tenant_id=tenant)
        pauses = await store.list_pauses(tenant_id=tenant, run_id=record.run_id)
    if args.json:
        consoles.out.print_json(data=jsonable(record))
        return EXIT_OK
    out = consoles.out
    query, steps = run_state_steps(record.state)
    out.print(f"[bold]run[/] {record.run_id}  [bold]{record.status.value}[/]")
    out.print(f"  tenant {record.tenant_id}, session {record.session_id or '-'}")
    out.print(f"  created {_when(record.created_at)}, updated {_when(record.updated_at)}")
    if query:
        out.print(f"[bold]query:[/] {escape(query)}")
    render_steps(consoles, steps)
    for pause in pauses:
        out.print(
            f"[yellow]pause[/] {pause.pause_id} ({pause.reason}): {pause.status.value}"
            + (f", decision {escape(short_json(pause.decision))}" if pause.decision else "")
        )
    answer = _answer(record.state)
    if answer:
        out.print(f"[bold]answer:[/] {escape(answer)}")
    return EXIT_OK


def _recovered_json(item: Any) -> dict[str, Any]:
    from .run import result_json

    data: dict[str, Any] = {"run_id": item.run_id, "tenant": item.tenant_id}
    if item.result is None:
        return {**data, "status": "failed", "error": item.error}
    return {**data, **result_json(item.result), "run_id": item.run_id}


async def _recover(args: argparse.Namespace, consoles: Consoles) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a whole number >= 1, got {args.limit}")
    agent = agent_from_args(args, stream=False)
    async with agent:
        tenant = None if args.all_tenants else agent.tenant_id
        recovered = await agent.planner.recover_stale_runs(tenant_id=tenant, limit=args.limit)
    items = [_recovered_json(item) for item in recovered]
    if args.json:
        consoles.out.print_json(data=items)
    elif not items:
        consoles.out.print("no runs to recover")
    else:
        for data in items:
            _print_recovered(consoles, data)
    if any(item.result is None for item in recovered):
        return EXIT_FAILED
    return EXIT_PAUSED if any(is_pause(item.result) for item in recovered) else EXIT_OK


def _print_recovered(consoles: Consoles, data: dict[str, Any]) -> None:
    out = consoles.out
    head = f"run {data['run_id']} (tenant {data['tenant']}): {data['status']}"
    if data["status"] == "failed":
        out.print(f"{head}: {data.get('error')}", markup=False)
    elif data["status"] == "paused":
        out.print(f"{head} ({data.get('reason')})", markup=False)
        out.print(f"resume token: {data.get('resume_token')}", markup=False)
    else:
        out.print(f"{head} ({data.get('reason')}): {data.get('answer') or ''}", markup=False)


def cmd_list(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow runs list``."""
    return asyncio.run(_list(args, consoles))


def cmd_show(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow runs show ID``."""
    return asyncio.run(_show(args, consoles))


def cmd_recover(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow runs recover``."""
    return asyncio.run(_recover(args, consoles))
