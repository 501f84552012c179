"""Turn the pieces of an :class:`AgentConfig` into objects: Python tools and the LLM client."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..catalog import NodeSpec, build_catalog
from ..errors import ConfigError, ToolSignatureError
from ..node import Node
from ..policy import NodePolicy
from .agent_config import ModelSettings, PythonToolEntry

__all__ = ["expand_command", "import_object", "make_llm_client", "python_tool_specs"]


def import_object(path: str, base_dir: Path, where: str) -> Any:
    """Import ``module:attribute`` with ``base_dir`` importable."""
    module_name, _, attribute = path.partition(":")
    folder = str(base_dir)
    if folder not in sys.path:
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
    name = module_name.strip()
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name != name and not name.startswith(f"{exc.name}."):
            raise ConfigError(
                f"{where}: module {name!r} imports {exc.name!r}, which is not installed; "
                f"install it (pip install {exc.name.split('.')[0]}) or remove the import"
            ) from None
        raise ConfigError(
            f"{where}: cannot import module {module_name!r} ({exc}); the path is "
            f"'module:attribute' and modules next to the config file ({folder}) are importable"
        ) from None
    except (Exception, SystemExit) as exc:
        raise ConfigError(
            f"{where}: importing module {name!r}{_origin(name)} raised "
            f"{type(exc).__name__}: {exc}; fix the module (`python -c 'import {name}'` in "
            f"{folder} shows the traceback)"
        ) from None
    value: Any = module
    for part in attribute.strip().split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(
                f"{where}: module {module_name!r} has no attribute {attribute!r}; check the "
                "name after the ':'"
            ) from None
    return value


def _origin(module: str) -> str:
    """`` (path/to/module.py)`` when the module's file can be found, else ``""``."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ""
    origin = getattr(spec, "origin", None)
    return f" ({origin})" if origin and origin not in ("built-in", "frozen") else ""


def python_tool_specs(entry: PythonToolEntry, base_dir: Path, where: str) -> list[NodeSpec]:
    """Import a ``type = "python"`` tool entry and return its catalog entries."""
    value = import_object(entry.path, base_dir, where)
    items = list(value) if isinstance(value, list | tuple) else [value]
    if len(items) > 1 and entry.name is not None:
        raise ConfigError(f"{where}: name= renames one function; {entry.path!r} holds several")
    specs: list[NodeSpec] = []
    for item in items:
        if isinstance(item, NodeSpec):
            specs.append(item)
            continue
        try:
            if isinstance(item, Node):
                specs.extend(build_catalog([item]))
            elif inspect.isfunction(item):
                policy = NodePolicy(timeout_s=entry.timeout_s, max_retries=entry.max_retries)
                specs.append(NodeSpec.from_function(item, name=entry.name, policy=policy))
            else:
                raise ConfigError(
                    f"{entry.path!r} is a {type(item).__name__}; a python tool must be a "
                    "function, a Node, a NodeSpec or a list of them"
                )
        except (ConfigError, ToolSignatureError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return specs


def make_llm_client(
    settings: ModelSettings, catalog: Sequence[NodeSpec], base_dir: Path, model: str | None
) -> tuple[str | dict[str, Any] | None, Any]:
    """Return ``(llm, llm_client)`` for ``ReactPlanner``: exactly one is not ``None``.

    ``model`` (the CLI's ``--model``) wins over the config.
    """
    if model is not None or settings.client is None:
        name = model or settings.name
        if name is None:
            raise ConfigError(
                'no model: set [model] name = "openai/gpt-4o-mini" (any LiteLLM model '
                'string) or [model] client = "module:factory" in the agent config, or pass '
                "--model"
            )
        if not settings.params:
            return name, None
        return {"model": name, **settings.params}, None
    target = import_object(settings.client, base_dir, "model.client")
    if callable(getattr(target, "complete", None)) and not inspect.isclass(target):
        return None, target
    if not callable(target):
        raise ConfigError(
            f"model.client {settings.client!r} is neither an LLM client (an object with "
            "`async complete(...)`) nor a factory returning one"
        )
    try:
        wants_catalog = any(
            p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(target).parameters.values()
        )
    except (TypeError, ValueError):
        wants_catalog = False
    try:
        client = target(list(catalog)) if wants_catalog else target()
    except Exception as exc:
        raise ConfigError(
            f"model.client {settings.client!r} raised {type(exc).__name__}: {exc}; fix the "
            "factory or choose another [model] client"
        ) from None
    if not callable(getattr(client, "complete", None)):
        raise ConfigError(
            f"model.client {settings.client!r} returned a {type(client).__name__}, not an "
            "LLM client (an object with `async complete(...)`)"
        )
    return None, client


def expand_command(command: Any) -> Any:
    """Replace ``{python}`` in an MCP stdio command with the running interpreter."""
    if isinstance(command, str):
        return command.replace("{python}", shlex.quote(sys.executable))
    if isinstance(command, list | tuple):
        return [str(part).replace("{python}", sys.executable) for part in command]
    return command
