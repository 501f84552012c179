"""The ``penguiflow`` console script.

The command line lives in :mod:`penguiflow.planner.cli`; it is imported only when the
command runs, so ``import penguiflow`` never loads the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``penguiflow`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    from penguiflow.planner.cli import main as cli_main

    return cli_main(argv)
