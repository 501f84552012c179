"""The argument parser, the command dispatch and how errors become exit statuses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from ..errors import ConfigError, PenguiFlowError, UsageError
from . import chat, db, demo, dev, pauses, project, run, runs
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE
from ._errors import cli_message
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


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line: what is wrong and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}; see `{self.prog} --help`\n")


_ACTIVITY_LOGGERS = ("penguiflow.flow",)
"""Loggers whose warnings repeat what the activity display shows (a failed tool call)."""


class _NotShownTwice(logging.Filter):
    """Keeps the runtime's node-failure warnings off the terminal: the activity shows them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and record.name in _ACTIVITY_LOGGERS)


_installed: list[logging.Handler] = []
"""The handlers ``main`` added to the root logger; a second ``main`` call replaces them."""


def _configure_logging(debug: bool, log_file: str | None) -> None:
    """Warnings on stderr (everything with ``--debug``), everything in ``--log-file``.

    MCP servers' stderr is logged at INFO (``penguiflow.tools.mcp.stderr``): it reaches the
    terminal only with ``--debug``, and the log file always.
    """
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setLevel(logging.DEBUG if debug else logging.WARNING)
    handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not debug:
        handlers[0].addFilter(_NotShownTwice())
    if log_file:
        try:
            file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"--log-file {log_file!r}: {exc.strerror or exc}; choose a file in a "
                "writable directory"
            ) from None
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file)
    for handler in handlers:
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(logging.DEBUG if debug or log_file else logging.WARNING)


def _log_thread_errors(args: threading.ExceptHookArgs) -> None:
    # A library's worker thread failing after its event loop closed (a database that
    # could not be opened) is noise for a user: log it (shown with --debug), never print.
    name = args.thread.name if args.thread is not None else "?"
    error = args.exc_value
    logging.getLogger("penguiflow.cli").debug(
        "background thread %s failed: %s", name, args.exc_type.__name__, exc_info=error or False
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the ``penguiflow`` argument parser with every command registered."""
    parser = _Parser(
        prog="penguiflow",
        description="Build, run and operate PenguiFlow agents.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"penguiflow {_version()}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show tracebacks, debug logs and MCP servers' stderr",
    )
    parser.add_argument(
        "--log-file",
        metavar="FILE",
        default=os.environ.get("PENGUIFLOW_LOG_FILE") or None,
        help="append every log record, MCP servers' stderr included, to FILE "
        "(default: $PENGUIFLOW_LOG_FILE)",
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
    consoles = Consoles()
    threading.excepthook = _log_thread_errors
    try:
        _configure_logging(debug, args.log_file)
        code: int = args.handler(args, consoles)
    except KeyboardInterrupt:
        consoles.err.print("\n[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except PenguiFlowError as exc:
        if debug:
            traceback.print_exc()
        consoles.error(cli_message(exc, getattr(args, "tenant", None)))
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
