"""What an ``Agent`` is made of, checked when it is built: from code, or from a config file.

:class:`AgentSetup` holds the settings in one normal form. ``Agent(...)`` builds it from
its keyword arguments (:func:`setup_from_code`); ``Agent.from_config`` builds it from an
:class:`AgentConfig` and lets the keyword arguments given in code win
(:func:`setup_from_config`). Python function tools become catalog entries here, so a bad
signature fails when the agent is built; MCP and HTTP tools are connected when it opens.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..catalog import NodeSpec, build_catalog
from ..errors import ConfigError
from ..memory import ShortTermMemoryConfig
from ..node import Node
from .agent_config import AgentConfig, ModelSettings

__all__ = ["AgentSetup", "FileTool", "ImportedClient", "setup_from_code", "setup_from_config"]

_SET_BY_AGENT = {
    "llm": "model=...",
    "llm_client": "llm_client=...",
    "nodes": "tools=[...]",
    "registry": "tools=[...] (models are read from each function's annotations)",
    "catalog": "tools=[...]",
    "state_store": "store=...",
    "short_term_memory": "memory=...",
    "system_prompt_extra": "instructions=...",
    "final_response_model": "output_type=...",
    "event_callback": "the agent's on_event attribute, or agent.stream(...)",
    "name": "name=...",
}
_CODE_OPTIONS = (
    "model",
    "tools",
    "instructions",
    "llm_client",
    "memory",
    "store",
    "output_type",
    "name",
    "tenant_id",
    "user_id",
)


@dataclass(frozen=True, slots=True)
class FileTool:
    """A ``[[tools]]`` entry of a config file, resolved against the file's directory."""

    entry: Any
    base_dir: Path
    where: str


@dataclass(frozen=True, slots=True)
class ImportedClient:
    """A ``[model] client = "module:factory"`` setting, imported when the agent opens."""

    settings: ModelSettings
    base_dir: Path


@dataclass(slots=True)
class AgentSetup:
    """An agent's settings in normal form.

    Attributes:
        name: a label for the agent.
        model: a LiteLLM model string or params dict, ``"test"``, or ``None``.
        llm_client: a client object, an :class:`ImportedClient`, or ``None``.
        tools: catalog entries, config-file entries (:class:`FileTool`), external tool
            configs and connected ``ToolNode``s, in catalog order.
        instructions: added to the system prompt.
        memory: the short-term memory settings (``None``: off).
        store: a database URL (opened and closed by the agent), a store object (used as
            given), or ``None``.
        output_type: the pydantic model of the final answer.
        tenant_id: the default tenant of runs.
        user_id: the default user of runs (part of the memory key).
        planner_options: other ``ReactPlanner`` keyword arguments.
        config: the config file's settings, for an agent built from one.
    """

    name: str = "agent"
    model: str | dict[str, Any] | None = None
    llm_client: Any = None
    tools: list[Any] = field(default_factory=list)
    instructions: str | None = None
    memory: ShortTermMemoryConfig | None = None
    store: Any = None
    output_type: type[BaseModel] | None = None
    tenant_id: str = "default"
    user_id: str = "default"
    planner_options: dict[str, Any] = field(default_factory=dict)
    config: AgentConfig | None = None

    @property
    def model_name(self) -> str:
        """A short description of the model: its name, the client's type, or ``(none)``."""
        if isinstance(self.model, str):
            return self.model
        if isinstance(self.model, Mapping):
            return str(self.model.get("model"))
        if isinstance(self.llm_client, ImportedClient):
            return str(self.llm_client.settings.client)
        if self.llm_client is not None:
            return type(self.llm_client).__name__
        return "(none)"


def _planner_parameters() -> list[str]:
    from .react import ReactPlanner

    params = inspect.signature(ReactPlanner.__init__).parameters
    return [name for name in params if name != "self" and name not in _SET_BY_AGENT]


def _check_planner_options(options: Mapping[str, Any]) -> dict[str, Any]:
    allowed = _planner_parameters()
    for name in options:
        if name in _SET_BY_AGENT:
            raise ConfigError(
                f"Agent sets ReactPlanner's {name} itself: pass {_SET_BY_AGENT[name]}"
            )
        if name not in allowed:
            raise ConfigError(
                f"Agent got an unknown option {name!r}; it takes {', '.join(_CODE_OPTIONS)} "
                f"and the ReactPlanner options {', '.join(allowed)}"
            )
    return dict(options)


def _model(model: Any, llm_client: Any) -> str | dict[str, Any] | None:
    if model is not None and llm_client is not None:
        raise ConfigError(
            "Agent takes model=... or llm_client=..., not both: model is a LiteLLM model "
            "string (or params dict), llm_client an LLM client object"
        )
    if llm_client is not None and not (
        isinstance(llm_client, ImportedClient) or callable(getattr(llm_client, "complete", None))
    ):
        raise ConfigError(
            "Agent(llm_client=...) needs an object with an async complete(...) method (see "
            f"penguiflow.planner.LLMClient), got {type(llm_client).__name__}"
        )
    if model is None or (isinstance(model, str) and model.strip()):
        return model
    if isinstance(model, Mapping):
        if not isinstance(model.get("model"), str) or not model["model"].strip():
            raise ConfigError(
                "Agent(model={...}) needs a 'model' key with a LiteLLM model string, as in "
                "{'model': 'openai/my-model', 'api_base': 'http://127.0.0.1:8080/v1'}"
            )
        return dict(model)
    raise ConfigError(
        "Agent(model=...) must be a LiteLLM model string such as 'openai/gpt-4o-mini', a "
        f"params dict with a 'model' key, or 'test' (offline), got {model!r}"
    )


def _memory(memory: Any) -> ShortTermMemoryConfig | None:
    if memory is True:
        return ShortTermMemoryConfig(strategy="truncation")
    if memory is False or memory is None:
        return None
    if isinstance(memory, ShortTermMemoryConfig):
        return memory if memory.enabled else None
    raise ConfigError(
        "Agent(memory=...) takes True (remember each session's recent turns), False, or a "
        f"ShortTermMemoryConfig, got {type(memory).__name__}"
    )


def _output_type(output_type: Any) -> type[BaseModel] | None:
    if output_type is None or (
        isinstance(output_type, type) and issubclass(output_type, BaseModel)
    ):
        return output_type
    raise ConfigError(
        "Agent(output_type=...) must be a pydantic BaseModel subclass (the answer's fields), "
        f"got {output_type!r}"
    )


def _store(store: Any) -> Any:
    if store is None or (isinstance(store, str) and store.strip()):
        return store
    if isinstance(store, str) or not callable(getattr(store, "create_run", None)):
        raise ConfigError(
            "Agent(store=...) takes a database URL such as 'sqlite+aiosqlite:///agent.db' "
            f"or a session store object such as SqlSessionStore, got {store!r}"
        )
    return store


def _tool(item: Any, index: int) -> Any:
    from ..tools import ExternalToolConfig, ToolNode
    from ..tools.errors import ToolConfigError

    if isinstance(item, NodeSpec | FileTool | ExternalToolConfig | ToolNode):
        return item
    if isinstance(item, Mapping):
        try:
            return ExternalToolConfig.from_dict(item)
        except ToolConfigError as exc:
            raise ConfigError(f"Agent(tools=[...]): tools[{index}]: {exc}") from None
    if isinstance(item, Node) or callable(item):
        return build_catalog([item])[0]
    raise ConfigError(
        f"Agent(tools=[...]): tools[{index}] is a {type(item).__name__}; a tool is a "
        "function, a Node, a NodeSpec, an ExternalToolConfig (MCP server or HTTP API) or "
        "a connected ToolNode"
    )


def _tools(tools: Any) -> list[Any]:
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Sequence):
        raise ConfigError(
            f"Agent(tools=...) takes a list of tools, got a {type(tools).__name__}; wrap it "
            "in a list"
        )
    return [_tool(item, index) for index, item in enumerate(tools)]


def _text(name: str, value: Any, *, optional: bool) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"Agent({name}=...) must be a non-empty string, got {value!r}")
    return value


def setup_from_code(
    model: Any = None,
    *,
    tools: Sequence[Any] = (),
    instructions: str | None = None,
    llm_client: Any = None,
    memory: Any = True,
    store: Any = None,
    output_type: Any = None,
    name: str = "agent",
    tenant_id: str = "default",
    user_id: str = "default",
    config: AgentConfig | None = None,
    **planner_options: Any,
) -> AgentSetup:
    """Check the keyword arguments of ``Agent(...)`` and return them in normal form.

    Raises:
        ConfigError: a bad, conflicting or unknown argument; the message says the fix.
        ToolSignatureError: a tool function's signature cannot become a schema.
    """
    return AgentSetup(
        name=_text("name", name, optional=False),
        model=_model(model, llm_client),
        llm_client=llm_client,
        tools=_tools(tools),
        instructions=_text("instructions", instructions, optional=True),
        memory=_memory(memory),
        store=_store(store),
        output_type=_output_type(output_type),
        tenant_id=_text("tenant_id", tenant_id, optional=False),
        user_id=_text("user_id", user_id, optional=False),
        planner_options=_check_planner_options(planner_options),
        config=config,
    )


def _config_model(config: AgentConfig, options: dict[str, Any]) -> None:
    """Fill ``model``/``llm_client`` from ``[model]`` unless the code gave one."""
    settings = config.model
    model = options.get("model")
    if options.get("llm_client") is not None:
        return
    if isinstance(model, str) and settings.params:
        options["model"] = {"model": model, **settings.params}
    if model is not None:
        return
    if settings.client is not None:
        options["llm_client"] = ImportedClient(settings, config.base_dir)
    elif settings.name is not None:
        options["model"] = (
            {"model": settings.name, **settings.params} if settings.params else settings.name
        )


def setup_from_config(config: AgentConfig, **options: Any) -> AgentSetup:
    """Merge an agent config with the keyword arguments given in code (code wins).

    ``tools`` given in code are added after the file's tools; every other argument
    replaces the file's setting (``model`` keeps the file's ``[model] params``, such as
    ``api_base``); planner options are merged into ``[planner]``.

    Raises:
        ConfigError: as :func:`setup_from_code`.
    """
    if "store_url" in options:
        warnings.warn(
            "Agent.from_file(store_url=...) is deprecated; use store=...",
            DeprecationWarning,
            stacklevel=3,
        )
        options.setdefault("store", options.pop("store_url"))
    _config_model(config, options)
    planner = config.planner.model_dump(exclude={"stream"})
    planner["stream_final_response"] = config.planner.stream
    planner["temperature"] = config.model.temperature
    for name in ("pause_ttl_s", "run_lease_s"):
        value = getattr(config.store, name)
        if value is not None:
            planner[name] = value
    code_tools = list(options.pop("tools", ()))
    store = options.pop("store", None)
    merged: dict[str, Any] = {
        "name": config.name,
        "instructions": config.system_prompt,
        "memory": config.memory,
        "store": store if store is not None else config.store_url(),
        "tenant_id": config.tenant,
        "user_id": config.user,
        **planner,
        **options,
    }
    files = [
        FileTool(entry, config.base_dir, f"tools[{i}]") for i, entry in enumerate(config.tools)
    ]
    setup = setup_from_code(tools=code_tools, config=config, **merged)
    setup.tools[:0] = files
    return setup
