"""The ``penguiflow`` command line: chat, run, resume, pauses, runs, db, new, demo.

``penguiflow.cli.main`` (the console script) imports this package on first use, so
``import penguiflow`` never loads the CLI. One module per command group; output uses rich.
"""

from __future__ import annotations

from ._app import build_parser, main

__all__ = ["build_parser", "main"]
