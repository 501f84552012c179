"""``penguiflow pauses list|show``: paused runs waiting for a human."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import Any

from rich.markup import escape

from ._common import EXIT_OK, add_limit_option, add_store_options, open_store
from ._ui import Column, Consoles, jsonable, pending_calls_table, print_listing, short_json, when

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Register ``pauses list`` and ``pauses show``."""
    pauses = commands.add_parser("pauses", help="list and inspect paused runs")
    sub = pauses.add_subparsers(dest="pauses_command", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="list pauses, newest first")
    add_store_options(listing)
    listing.add_argument(
        "--status",
        choices=["pending", "claimed", "resolved", "expired"],
        help="only pauses in this status (default: all)",
    )
    listing.add_argument("--all-tenants", action="store_true", help="every tenant's pauses")
    add_limit_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="show one pause: what it waits for and its state")
    show.add_argument("token", help="a resume token, or a pause id from `pauses list`")
    add_store_options(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_show)


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _tenant(args: argparse.Namespace, config: Any) -> str | None:
    if getattr(args, "all_tenants", False):
        return None
    return str(args.tenant or config.tenant)


async def _list(args: argparse.Namespace, consoles: Consoles) -> int:
    async with open_store(args) as (store, config):
        records = await store.list_pauses(
            tenant_id=_tenant(args, config), status=args.status, limit=args.limit
        )
    if args.json:
        consoles.out.print_json(data=[jsonable(r) for r in records])
        return EXIT_OK
    if not records:
        consoles.out.print("no pauses")
        return EXIT_OK
    columns = [
        Column("pause id", "id"),
        Column("status", "word"),
        Column("reason"),
        Column("waiting for"),
        Column("created", "word"),
        Column("run id", "id", wide_only=True),
        Column("tenant", wide_only=not args.all_tenants),
    ]
    rows = []
    for record in records:
        tools = ", ".join(
            str(call.get("tool", "?")) for call in record.pending_calls if isinstance(call, dict)
        )
        rows.append(
            [
                record.pause_id,
                str(record.status.value),
                record.reason,
                tools or short_json(record.payload, 60),
                when(record.created_at),
                record.run_id,
                record.tenant_id,
            ]
        )
    print_listing(consoles, columns, rows)
    return EXIT_OK


async def _find(store: Any, key: str, tenant: str) -> Any:
    from ..sessions import PauseNotFoundError

    try:
        return await store.get_pause(key, tenant_id=tenant)
    except PauseNotFoundError:
        return await store.get_pause_by_id(key, tenant_id=tenant)


async def _show(args: argparse.Namespace, consoles: Consoles) -> int:
    async with open_store(args) as (store, config):
        record = await _find(store, args.token, str(args.tenant or config.tenant))
    if args.json:
        consoles.out.print_json(data=jsonable(record))
        return EXIT_OK
    out = consoles.out
    out.print(f"[bold]pause[/] {record.pause_id}")
    rows = [
        ("run", record.run_id),
        ("tenant", record.tenant_id),
        ("status", record.status.value),
        ("reason", record.reason),
        ("created", _when(record.created_at)),
        ("expires", _when(record.expires_at)),
    ]
    if record.claim_count:
        rows.append(("claims", str(record.claim_count)))
    if record.decision is not None:
        rows.append(("decision", short_json(record.decision, 400)))
    if record.resolved_at is not None:
        rows.append(("resolved", _when(record.resolved_at)))
    if record.outcome is not None:
        rows.append(("outcome", short_json(record.outcome, 400)))
    if record.payload:
        rows.append(("payload", short_json(record.payload, 400)))
    for label, value in rows:
        out.print(f"  {label:<9} {escape(str(value))}")
    if record.pending_calls:
        out.print("  [bold]pending calls[/]")
        out.print(pending_calls_table(record.pending_calls))
    return EXIT_OK


def cmd_list(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow pauses list``."""
    return asyncio.run(_list(args, consoles))


def cmd_show(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow pauses show TOKEN``."""
    return asyncio.run(_show(args, consoles))
