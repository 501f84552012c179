"""``penguiflow db upgrade``: create or upgrade the session store's schema."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.markup import escape

from ._common import EXIT_OK, add_store_options, config_from_args, store_url_from
from ._ui import Consoles

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Register ``db upgrade``."""
    db = commands.add_parser("db", help="manage the session store's database")
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = sub.add_parser(
        "upgrade",
        help="create the tables, or upgrade an older schema in place",
        description="Create the session store's tables, or migrate a database written by "
        "an older PenguiFlow. Safe to run again, and from several processes at once. A "
        "database migrated by a newer PenguiFlow is refused and left unchanged.",
    )
    add_store_options(upgrade, tenant=False)
    upgrade.set_defaults(handler=cmd_upgrade)


async def _upgrade(args: argparse.Namespace, consoles: Consoles) -> int:
    from ..sessions import SqlSessionStore

    config = config_from_args(args, required=False)
    store = SqlSessionStore(store_url_from(args, config))
    with consoles.err.status(f"upgrading {store.url}..."):
        await store.setup()
    await store.close()
    consoles.out.print(f"[green]✓[/] schema is up to date: {escape(store.url)}")
    return EXIT_OK


def cmd_upgrade(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow db upgrade``."""
    return asyncio.run(_upgrade(args, consoles))
