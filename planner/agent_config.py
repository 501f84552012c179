"""``AgentConfig``: an agent described in a TOML (or YAML) file.

One file says which model to use, what the system prompt adds, which tools the agent
has (Python functions by import path, MCP servers, HTTP APIs), how much conversation it
remembers and where runs and pauses are stored::

    name = "support"
    system_prompt = "Answer in one short paragraph."

    [model]
    name = "openai/gpt-4o-mini"          # any LiteLLM model string

    [[tools]]
    type = "python"
    path = "tools:get_weather"           # module:attribute, relative to this file

    [[tools]]
    type = "mcp"
    name = "files"
    connection = ["{python}", "files_server.py"]
    allow = ["read_*"]

    [memory]
    strategy = "truncation"

    [store]
    url = "sqlite+aiosqlite:///penguiflow.sqlite3"

Every problem raises :class:`~penguiflow.errors.ConfigError` naming the file, the field
and the fix.
"""

from __future__ import annotations

import importlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import ConfigError

__all__ = [
    "CONFIG_FILE_NAMES",
    "AgentConfig",
    "ModelSettings",
    "PlannerSettings",
    "PythonToolEntry",
    "StoreSettings",
    "find_agent_config",
    "load_agent_config",
]

CONFIG_FILE_NAMES = ("agent.toml", "agent.yaml", "agent.yml")
"""Files looked for in the working directory when no ``--config`` is given."""

_EXTERNAL_TYPES = ("mcp", "http")
_MEMORY_STRATEGIES = ("none", "truncation", "rolling_summary")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Section):
    """The ``[model]`` table: which LLM plans the agent's steps."""

    name: str | None = None
    """A LiteLLM model string such as ``"openai/gpt-4o-mini"`` (the provider's API key is
    read from its usual environment variable, e.g. ``OPENAI_API_KEY``)."""
    client: str | None = None
    """Instead of ``name``: the import path (``module:attribute``) of an LLM client, or of
    a factory returning one; a factory with a parameter receives the tool catalog
    (``"penguiflow.planner.testing:TestLLM"`` runs offline)."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, strict=True)
    """Sampling temperature for ``name`` models."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra LiteLLM parameters (``max_tokens``, ``api_base``, ``timeout_s``...)."""

    @field_validator("name", "client")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; remove the key or give a value")
        return value

    @model_validator(mode="after")
    def _one_model(self) -> ModelSettings:
        if self.name is not None and self.client is not None:
            raise ValueError(
                f"name ({self.name!r}) and client ({self.client!r}) both choose the model; "
                "keep one of them"
            )
        return self


class PlannerSettings(_Section):
    """The ``[planner]`` table: budgets and behaviour of the ReactPlanner."""

    max_iters: int = Field(default=8, ge=1, strict=True)
    """Most LLM decisions per run."""
    hop_budget: int | None = Field(default=None, ge=0, strict=True)
    """Most tool invocations per run."""
    deadline_s: float | None = Field(default=None, gt=0, strict=True)
    """Wall time per run, in seconds."""
    token_budget: int | None = Field(default=None, ge=1, strict=True)
    """Most tokens per LLM request."""
    repair_attempts: int = Field(default=3, ge=0, strict=True)
    """LLM retries for a reply that is not a valid action."""
    max_parallel: int = Field(default=4, ge=1, strict=True)
    """Branches of a parallel step running at once."""
    tool_mode: Literal["auto", "native", "json"] = "auto"
    """``"native"``: the model calls tools natively; ``"json"``: it replies with one JSON
    action per step; ``"auto"``: native when litellm says the model handles it."""
    tool_choice: str | None = None
    """In native mode, a tool the model must call (or ``"required"``: any tool) until
    the run's first tool step."""
    json_schema_mode: StrictBool = True
    """Send the catalog's strict JSON schema as ``response_format``."""
    max_string_length: int | None = Field(default=None, ge=1, strict=True)
    """``maxLength`` of the answer and of string arguments in the strict schema (default:
    half the model's ``max_tokens`` in characters, at most 4096)."""
    max_thought_length: int | None = Field(default=None, ge=1, strict=True)
    """``maxLength`` of each step's ``thought`` in the strict schema (default: a quarter
    of ``max_tokens``, at most 500)."""
    max_reply_chars: int = Field(default=1_000_000, ge=1, strict=True)
    """The most characters of one model reply the planner reads; longer ones are repaired."""
    max_reply_depth: int = Field(default=32, ge=2, le=128, strict=True)
    """How deeply the JSON of a reply may nest; deeper ones are repaired."""
    stream: StrictBool = True
    """Stream the answer text as it is generated."""


class PythonToolEntry(_Section):
    """A ``[[tools]]`` entry with ``type = "python"``: tools you wrote in Python."""

    type: Literal["python"] = "python"
    path: str
    """``module:attribute``: an ``async def tool(args: ArgsModel, ctx) -> OutModel``
    function (described with ``@tool``), a ``Node``, a ``NodeSpec``, or a list of them.
    The config file's directory is importable."""
    name: str | None = None
    """The tool's name for a function (default: the function's name)."""
    timeout_s: float | None = Field(default=None, gt=0, strict=True)
    """Seconds per attempt, for a function (``Node``s keep their own policy)."""
    max_retries: int = Field(default=0, ge=0, strict=True)
    """Extra attempts after a failure, for a function."""

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        module, sep, attribute = value.partition(":")
        if not sep or not module.strip() or not attribute.strip():
            raise ValueError(
                f"must be 'module:attribute' (for example 'tools:get_weather'), got {value!r}"
            )
        return value


class StoreSettings(_Section):
    """The ``[store]`` table: where runs, pauses and memory are kept."""

    url: str | None = None
    """A database URL; default ``$PENGUIFLOW_STORE_URL``, else
    ``sqlite+aiosqlite:///penguiflow.sqlite3`` in the working directory."""
    pause_ttl_s: float | None = Field(default=None, gt=0, strict=True)
    """How long a pause waits for a human before it expires (``None``: the planner's
    default)."""
    run_lease_s: float | None = Field(default=None, gt=0)
    """How long a running run stays owned by its process without a renewal; once it has
    lapsed (the process died) ``penguiflow runs recover`` continues the run (``None``:
    the planner's default, 30 seconds)."""


class AgentConfig(_Section):
    """An agent: model, system prompt, tools, memory and store.

    Build one with :func:`load_agent_config` (from a file) or :meth:`from_dict`.
    ``base_dir`` is the directory relative paths and Python import paths are resolved
    against (the config file's directory).
    """

    name: str = "agent"
    """A label for the agent (shown by the CLI)."""
    system_prompt: str | None = None
    """Instructions added to the planner's system prompt."""
    tenant: str = Field(default="default", min_length=1)
    """The tenant runs, pauses and memory belong to."""
    user: str = Field(default="cli", min_length=1)
    """The user id of CLI sessions (part of the memory key)."""
    model: ModelSettings = Field(default_factory=ModelSettings)
    """The ``[model]`` table."""
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    """The ``[planner]`` table."""
    tools: tuple[Any, ...] = ()
    """``[[tools]]`` entries: :class:`PythonToolEntry` or ``ExternalToolConfig``."""
    memory: Any = None
    """The ``[memory]`` table as a ``ShortTermMemoryConfig`` (strategy ``truncation`` by
    default, so a chat remembers earlier turns)."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """The ``[store]`` table."""
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    """Where relative paths are resolved (the config file's directory)."""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None, source: str = "config"
    ) -> AgentConfig:
        """Validate an agent config held in a mapping.

        Args:
            data: the parsed document.
            base_dir: the directory relative paths are resolved against (default: cwd).
            source: how error messages name the document (usually the file name).

        Raises:
            ConfigError: a field is missing, unknown or invalid; the message names it.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{source}: an agent config must be a table of settings, got {type(data).__name__}"
            )
        try:
            fields = dict(data)
            fields["tools"] = tuple(
                _tool_entry(item, i, source) for i, item in enumerate(_tools(fields, source))
            )
            fields["memory"] = _memory(fields.get("memory"), source)
            if base_dir is not None:
                fields["base_dir"] = Path(base_dir)
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_describe(exc)}") from None
        except RecursionError:
            raise ConfigError(_TOO_DEEP.format(source=source)) from None

    def model_name(self) -> str:
        """A short description of the model (its name, or the client's import path)."""
        return self.model.name or self.model.client or "(none)"

    def store_url(self, override: str | None = None) -> str:
        """Return the store URL: ``override``, ``[store] url``, the environment, the default."""
        from_env = os.environ.get("PENGUIFLOW_STORE_URL")
        return override or self.store.url or from_env or "sqlite+aiosqlite:///penguiflow.sqlite3"


def _tools(fields: dict[str, Any], source: str) -> list[Any]:
    tools = fields.get("tools", [])
    if isinstance(tools, Mapping):
        tools = [tools]
    if not isinstance(tools, list | tuple):
        raise ConfigError(
            f"{source}: tools must be a list of [[tools]] tables, got {type(tools).__name__}"
        )
    return list(tools)


def _tool_entry(item: Any, index: int, source: str) -> Any:
    where = f"{source}: tools[{index}]"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(item).__name__}")
    entry = dict(item)
    kind = entry.get("type")
    if kind is None:
        raise ConfigError(
            f'{where}: add type = "python", "mcp" or "http" (what kind of tool it is)'
        )
    if kind == "python":
        try:
            return PythonToolEntry.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{where} (python): {_describe(exc)}") from None
    if kind in _EXTERNAL_TYPES:
        from ..tools import ExternalToolConfig
        from ..tools.errors import ToolConfigError

        entry.pop("type")
        entry["transport"] = kind
        try:
            return ExternalToolConfig.from_dict(entry)
        except ToolConfigError as exc:
            raise ConfigError(f"{where} ({kind}): {exc}") from None
    raise ConfigError(f'{where}: type must be "python", "mcp" or "http", got {kind!r}')


def _memory(value: Any, source: str) -> Any:
    from ..memory import ShortTermMemoryConfig
    from ..memory.errors import MemoryConfigError

    if value is None:
        value = {"strategy": "truncation"}
    if isinstance(value, ShortTermMemoryConfig):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: memory must be a table, got {type(value).__name__}")
    data = dict(value)
    strategy = data.get("strategy", "truncation")
    if strategy not in _MEMORY_STRATEGIES:
        raise ConfigError(
            f"{source}: memory.strategy must be one of {', '.join(_MEMORY_STRATEGIES)}, "
            f"got {strategy!r}"
        )
    data["strategy"] = strategy
    try:
        return ShortTermMemoryConfig(**data)
    except MemoryConfigError as exc:
        raise ConfigError(f"{source}: memory: {exc}") from None


_TOO_DEEP = (
    "{source}: tables or lists nest too deeply to read; an agent config needs only a few "
    "levels: flatten it"
)

_HINTS = {
    "extra_forbidden": "unknown setting; remove it or check its spelling",
    "missing": "required; add it",
}


_KINDS = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
}


def _shown(value: Any) -> str:
    """A value as the config file spells it (``true``, not ``True``)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return repr(value)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        kind = str(err["type"])
        message = str(err["msg"]).removeprefix("Value error, ")
        given = err.get("input")
        if kind in _HINTS:
            message = _HINTS[kind]
        elif kind in _KINDS:
            message = f"{_KINDS[kind]}, got {_shown(given)}"
        elif "input" in err and not isinstance(given, Mapping):
            message = f"{message} (got {_shown(given)})"
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the agent config {str(path)!r}: {exc.strerror or exc}; check the "
            "path given to --config"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None


def _parse(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(
            f"agent config {str(path)!r} must end in .toml, .yaml or .yml, got {suffix or 'none'!r}"
        )
    text = _read(path)
    try:
        if suffix == ".toml":
            try:
                return tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path.name} is not valid TOML: {exc}") from None
        try:
            yaml: Any = importlib.import_module("yaml")
        except ImportError:
            raise ConfigError(
                f"{path.name}: YAML agent configs need PyYAML (pip install pyyaml); or "
                "write the config as TOML"
            ) from None
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(_TOO_DEEP.format(source=path)) from None


def load_agent_config(path: str | Path) -> AgentConfig:
    """Load and validate an agent config file (``.toml``, ``.yaml`` or ``.yml``).

    Raises:
        ConfigError: the file cannot be read or parsed, or a setting is invalid.
    """
    file = Path(path)
    return AgentConfig.from_dict(_parse(file), base_dir=file.resolve().parent, source=file.name)


def find_agent_config(directory: str | Path | None = None) -> Path | None:
    """Return the first of :data:`CONFIG_FILE_NAMES` found in ``directory`` (default: cwd)."""
    base = Path(directory) if directory is not None else Path.cwd()
    for name in CONFIG_FILE_NAMES:
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None
