"""What the CLI commands share: exit codes, common options, loading the agent and store."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..planner.agent import Agent
from ..planner.agent_config import AgentConfig, find_agent_config, load_agent_config

__all__ = [
    "EXIT_FAILED",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "add_config_option",
    "add_store_options",
    "agent_from_args",
    "config_from_args",
    "exit_code_for",
    "open_store",
]

EXIT_OK = 0
"""The command succeeded (a run finished with an answer)."""
EXIT_FAILED = 1
"""Something failed: a tool server, the LLM, the database, an unknown token..."""
EXIT_USAGE = 2
"""Bad command line or invalid agent config."""
EXIT_PAUSED = 3
"""The run paused and waits for a human; the resume token was printed."""
EXIT_INCOMPLETE = 4
"""The run ended without a complete answer (``no_path`` or ``budget_exhausted``)."""
EXIT_INTERRUPTED = 130
"""Interrupted with Ctrl-C."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``."""
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="agent config (.toml/.yaml); default: agent.toml in the working directory",
    )


def add_store_options(parser: argparse.ArgumentParser, *, tenant: bool = True) -> None:
    """Add ``--config``, ``--store`` and (optionally) ``--tenant``."""
    add_config_option(parser)
    parser.add_argument(
        "--store",
        metavar="URL",
        help="database URL; default: the config's [store] url, $PENGUIFLOW_STORE_URL, or "
        "sqlite+aiosqlite:///penguiflow.sqlite3",
    )
    if tenant:
        parser.add_argument("--tenant", metavar="T", help="tenant (default: the config's)")


def config_from_args(args: argparse.Namespace, *, required: bool) -> AgentConfig:
    """Load ``--config``, or ``agent.toml`` from the working directory.

    Raises:
        ConfigError: the file is invalid, or none was found and ``required`` is set.
    """
    path = getattr(args, "config", None)
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(
                f"agent config {path!r} does not exist; create one with "
                "`penguiflow new NAME` or fix the --config path"
            )
        return load_agent_config(path)
    found = find_agent_config()
    if found is not None:
        return load_agent_config(found)
    if required and getattr(args, "model", None) is None:
        raise ConfigError(
            "no agent config: pass --config agent.toml, run in a directory holding "
            "agent.toml (`penguiflow new NAME` creates one), or pass --model MODEL"
        )
    return AgentConfig()


def agent_from_args(args: argparse.Namespace, *, stream: bool | None = None) -> Agent:
    """Build (not start) the agent the command line describes."""
    config = config_from_args(args, required=True)
    updates: dict[str, Any] = {}
    if getattr(args, "tenant", None):
        updates["tenant"] = args.tenant
    if updates:
        config = config.model_copy(update=updates)
    options: dict[str, Any] = {}
    if getattr(args, "model", None) is not None:
        options["model"] = args.model
    if getattr(args, "store", None):
        options["store"] = args.store
    if stream is not None:
        options["stream_final_response"] = stream
    return Agent.from_config(config, **options)


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[tuple[Any, AgentConfig]]:
    """Open the session store the command line names; yields ``(store, config)``."""
    from ..sessions import SqlSessionStore

    config = config_from_args(args, required=False)
    async with SqlSessionStore(config.store_url(getattr(args, "store", None))) as store:
        yield store, config


def exit_code_for(result: Any) -> int:
    """The exit status for a planner result."""
    if getattr(result, "resume_token", None) is not None:
        return EXIT_PAUSED
    if getattr(result, "reason", None) == "answer_complete":
        return EXIT_OK
    return EXIT_INCOMPLETE


def is_pause(result: Any) -> bool:
    """Whether a planner result is a pause."""
    return getattr(result, "resume_token", None) is not None
