"""``penguiflow new NAME``: scaffold an agent project that runs and tests offline."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rich.markup import escape

from ..errors import ConfigError
from ._common import EXIT_OK
from ._templates import QUESTIONS, README, TEMPLATES
from ._ui import Consoles

__all__ = ["add_parsers", "scaffold"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def add_parsers(commands: Any) -> None:
    """Register ``new``."""
    new = commands.add_parser(
        "new",
        help="create an agent project (config, a tool, an offline test)",
        description="Create a directory NAME holding agent.toml, a tool, an offline "
        "stand-in for a model, and a test that passes without an API key.",
    )
    new.add_argument("name", help="project (and directory) name")
    new.add_argument(
        "--template",
        "-t",
        choices=sorted(TEMPLATES),
        default="react",
        help="react: a Python tool (default); mcp: an MCP server; hitl: a tool that needs approval",
    )
    new.add_argument("--dir", metavar="PARENT", default=".", help="where to create it (.)")
    new.set_defaults(handler=cmd_new)


def scaffold(name: str, template: str, parent: Path) -> tuple[Path, list[Path]]:
    """Write the files of ``template`` into ``parent/name``; return the directory and files.

    Raises:
        ConfigError: a bad name, an unknown template, or a non-empty target directory.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"project name {name!r} must start with a letter and hold only letters, digits, "
            "'-' or '_' (it names a directory and the agent)"
        )
    files = TEMPLATES.get(template)
    if files is None:
        raise ConfigError(f"unknown template {template!r}; choose {', '.join(sorted(TEMPLATES))}")
    target = parent / name
    if target.exists() and any(target.iterdir()):
        raise ConfigError(
            f"{str(target)!r} already exists and is not empty; choose another NAME or --dir"
        )
    written = []
    readme = README.replace("{question}", QUESTIONS[template])
    for relative, text in {**files, "README.md": readme}.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name), encoding="utf-8")
        written.append(path)
    return target, written


def cmd_new(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow new NAME [--template react|mcp|hitl]``."""
    target, written = scaffold(args.name, args.template, Path(args.dir))
    out = consoles.out
    out.print(f"[green]✓[/] created {escape(str(target))} ({args.template} template)")
    for path in written:
        out.print(f"  {escape(str(path.relative_to(target)))}")
    out.print("next:")
    out.print(f"  cd {escape(str(target))}")
    out.print(f'  penguiflow run "{escape(QUESTIONS[args.template])}"')
    out.print("  python -m pytest -q")
    return EXIT_OK
