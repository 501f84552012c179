"""Loading an agent project for the playground, and the view of an agent it serves.

A project directory holds an agent config (``agent.toml``, ``agent.yaml`` or
``agent.yml``) or a Python module ``agent.py`` exposing an ``Agent``. When both exist
the config file wins: it is what ``penguiflow run`` and ``penguiflow chat`` use in that
directory, so the playground shows the same agent. ``agent.py`` may define ``agent`` (an
``Agent``, or a function without arguments returning one); otherwise its only
module-level ``Agent`` is used.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...catalog import NodeSpec
from ...errors import ConfigError
from ...planner.agent import Agent
from ...planner.agent_config import CONFIG_FILE_NAMES, load_agent_config
from ...planner.react import ReactPlanner

__all__ = [
    "MODULE_FILE_NAME",
    "ServedAgent",
    "describe_entry",
    "load_dotenv",
    "load_project",
    "served_agent",
]

MODULE_FILE_NAME = "agent.py"
"""The Python module looked for when a project has no agent config."""


@dataclass(frozen=True, slots=True)
class ServedAgent:
    """What the playground needs of an open agent.

    Attributes:
        name: the agent's label.
        model: a short description of its model.
        tenant: the tenant its runs, pauses and memory belong to.
        user: the user id of playground sessions (part of the memory key).
        planner: the agent's planner.
        store: the agent's session store.
        catalog: every tool (Python, MCP and HTTP).
        tool_entries: the config's ``[[tools]]`` entries (for allowlists and origins).
        memory_key: the memory key of a session id.
    """

    name: str
    model: str
    tenant: str
    user: str
    planner: ReactPlanner
    store: Any
    catalog: tuple[NodeSpec, ...]
    tool_entries: tuple[Any, ...]
    memory_key: Callable[[str | None], Any]


def served_agent(agent: Agent) -> ServedAgent:
    """The playground's view of an open ``agent``."""
    return ServedAgent(
        name=agent.name,
        model=agent.model_name,
        tenant=agent.tenant_id,
        user=agent.user_id,
        planner=agent.planner,
        store=agent.store,
        catalog=tuple(agent.catalog),
        tool_entries=agent.tool_sources,
        memory_key=agent.memory_key,
    )


def load_dotenv(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Set the variables of a ``.env`` file that are not set already; return their names.

    Lines are ``NAME=value`` (an ``export`` prefix, quotes around the value and ``#``
    comments are allowed). Variables already in the environment keep their value.

    Raises:
        ConfigError: a line is not ``NAME=value``.
    """
    env: Any = os.environ if environ is None else environ
    if not path.is_file():
        return []
    loaded = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(
                f"{path.name}, line {number}: expected NAME=value, got {raw.strip()!r}; fix "
                "or remove the line"
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if name not in env:
            env[name] = value
            loaded.append(name)
    return loaded


def _module_agent(path: Path) -> Agent:
    name = f"penguiflow_playground_project_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {str(path)!r}; is it a Python file?")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    found = getattr(module, "agent", None)
    if callable(found) and not isinstance(found, Agent):
        found = found()
    if isinstance(found, Agent):
        return found
    agents = [value for value in vars(module).values() if isinstance(value, Agent)]
    if len(agents) == 1:
        return agents[0]
    raise ConfigError(
        f"{path.name} must define `agent = Agent(...)` (or a function `agent()` returning "
        f"one); found {len(agents)} module-level Agent objects"
    )


def load_project(root: Path, *, store_url: str | None = None, **options: Any) -> Agent:
    """Return the (unopened) agent of the project in ``root``.

    Args:
        root: the project directory.
        store_url: a database URL overriding the config's ``[store]`` (config projects).
        **options: more keyword arguments of ``Agent`` for config projects.

    Raises:
        ConfigError: no agent config nor ``agent.py``, an invalid one, or ``store_url``
            given for an ``agent.py`` project.
    """
    if not root.is_dir():
        raise ConfigError(
            f"--project-root {str(root)!r} is not a directory; create a project with "
            "`penguiflow new NAME` and pass its directory"
        )
    for file_name in CONFIG_FILE_NAMES:
        candidate = root / file_name
        if candidate.is_file():
            if store_url is not None:
                options["store"] = store_url
            return Agent.from_config(load_agent_config(candidate), **options)
    module = root / MODULE_FILE_NAME
    if module.is_file():
        if store_url is not None:
            raise ConfigError(
                f"--store only applies to agent config projects; {MODULE_FILE_NAME} builds "
                "its own Agent, so set its store there"
            )
        return _module_agent(module)
    names = ", ".join((*CONFIG_FILE_NAMES, MODULE_FILE_NAME))
    raise ConfigError(
        f"{str(root)!r} holds no agent: add one of {names} (`penguiflow new NAME` creates "
        "a project), or point --project-root at a project directory"
    )


def describe_entry(entry: Any) -> Mapping[str, Any]:
    """Where a ``[[tools]]`` entry's tools come from, without credentials."""
    kind = getattr(entry, "transport", None) or getattr(entry, "type", "python")
    if kind == "python":
        return {"kind": "python", "source": entry.path}
    source = entry.connection if kind == "mcp" else entry.base_url
    if isinstance(source, list | tuple):
        source = " ".join(str(part) for part in source)
    return {"kind": kind, "server": entry.name, "source": source}
