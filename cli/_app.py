"""The argument parser, the command dispatch and how errors become exit statuses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata

from ..errors import PenguiFlowError, UsageError
from . import chat, db, demo, dev, pauses, project, run, runs
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE
from ._ui import Consoles

__all__ = ["build_parser", "main"]

_EPILOG = """\
exit status: 0 done, 1 failed, 2 bad usage or config, 3 paused (waiting for a human),
4 no complete answer, 130 interrupted.
start here: penguiflow demo   |   penguiflow new my-agent   |   penguiflow dev   |   docs/cli.md"""


def _version() -> str:
    try:
        return metadata.version("penguiflow")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Return the ``penguiflow`` argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="penguiflow",
        description="Build, run and operate PenguiFlow agents.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"penguiflow {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs on errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chat.add_parsers(commands)
    run.add_parsers(commands)
    pauses.add_parsers(commands)
    runs.add_parsers(commands)
    db.add_parsers(commands)
    project.add_parsers(commands)
    demo.add_parsers(commands)
    dev.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``penguiflow`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = args.debug or bool(os.environ.get("PENGUIFLOW_DEBUG"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    consoles = Consoles()
    try:
        code: int = args.handler(args, consoles)
    except KeyboardInterrupt:
        consoles.err.print("\n[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except PenguiFlowError as exc:
        if debug:
            traceback.print_exc()
        consoles.error(str(exc))
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        consoles.error(f"{type(exc).__name__}: {exc}")
        if not debug:
            consoles.note("run again with --debug for a traceback")
        return EXIT_FAILED
    sys.stdout.flush()
    return code
