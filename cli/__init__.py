"""The ``penguiflow`` command line: chat, run, resume, pauses, runs, db, new, demo.

The console script runs ``penguiflow.cli.main``; the package is imported only then, so
``import penguiflow`` never loads the CLI. One module per command group; output uses rich.
"""

from __future__ import annotations

from ._app import build_parser, main

__all__ = ["build_parser", "main"]
