"""What the CLI commands share: exit codes, common options, loading the agent and store."""

from __future__ import annotations

import argparse
import os
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
    "MAX_LIMIT",
    "add_config_option",
    "add_limit_option",
    "add_store_options",
    "agent_from_args",
    "config_from_args",
    "exit_code_for",
    "non_empty",
    "open_store",
    "store_url_from",
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
MAX_LIMIT = 10_000
"""The largest ``--limit`` a listing accepts."""


def non_empty(value: str) -> str:
    """An argparse ``type`` refusing an empty (or blank) value."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty; give a value or leave the option out")
    return value


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_LIMIT}, got {value!r}"
        )
    return number


def add_limit_option(parser: argparse.ArgumentParser, default: int = 50) -> None:
    """Add ``--limit N`` (1 to :data:`MAX_LIMIT`)."""
    parser.add_argument(
        "--limit", type=_limit, default=default, metavar="N", help=f"at most N ({default})"
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``."""
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        type=non_empty,
        help="agent config (.toml/.yaml); default: agent.toml in the working directory",
    )


def add_store_options(parser: argparse.ArgumentParser, *, tenant: bool = True) -> None:
    """Add ``--config``, ``--store`` and (optionally) ``--tenant``."""
    add_config_option(parser)
    parser.add_argument(
        "--store",
        metavar="URL",
        type=non_empty,
        help="database URL; default: the config's [store] url, $PENGUIFLOW_STORE_URL, or "
        "sqlite+aiosqlite:///penguiflow.sqlite3",
    )
    if tenant:
        parser.add_argument(
            "--tenant",
            metavar="T",
            type=non_empty,
            help="tenant (default: the config's)",
        )


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
    options["store"] = store_url_from(args, config)
    if stream is not None:
        options["stream_final_response"] = stream
    return Agent.from_config(config, **options)


def store_url_from(args: argparse.Namespace, config: AgentConfig) -> str:
    """Return the store URL the command line chooses, checked where that can be done early.

    Raises:
        ConfigError: a SQLite file cannot be created or opened where the URL points; the
            message names where the URL came from (flag, config, environment, default).
    """
    flag = getattr(args, "store", None)
    url = config.store_url(flag)
    _check_sqlite_path(url, _store_source(flag, config))
    return url


def _store_source(flag: str | None, config: AgentConfig) -> str:
    if flag:
        return "--store"
    if config.store.url:
        return "[store] url in the agent config"
    if os.environ.get("PENGUIFLOW_STORE_URL"):
        return "$PENGUIFLOW_STORE_URL"
    return "the default store URL"


def _sqlite_file(url: str) -> Path | None:
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _check_sqlite_path(url: str, source: str) -> None:
    file = _sqlite_file(url)
    if file is None:
        return
    folder = file.parent if str(file.parent) else Path(".")
    fix = "create it, or choose another place with --store"
    if not folder.exists():
        problem = f"the directory {str(folder)!r} does not exist; {fix}"
    elif not folder.is_dir():
        problem = f"{str(folder)!r} is not a directory; choose another place with --store"
    elif file.exists() and not file.is_file():
        problem = f"{str(file)!r} is not a file; choose another place with --store"
    elif file.exists() and not os.access(file, os.R_OK | os.W_OK):
        problem = (
            f"the database file {str(file)!r} is not readable and writable; fix its permissions"
        )
    elif not file.exists() and not os.access(folder, os.W_OK | os.X_OK):
        problem = (
            f"the directory {str(folder)!r} is not writable; fix its permissions or choose "
            "another place with --store"
        )
    else:
        return
    raise ConfigError(f"store {url!r} ({source}): {problem}")


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[tuple[Any, AgentConfig]]:
    """Open the session store the command line names; yields ``(store, config)``."""
    from ..sessions import SqlSessionStore

    config = config_from_args(args, required=False)
    async with SqlSessionStore(store_url_from(args, config)) as store:
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
