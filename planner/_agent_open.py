"""Opening an ``Agent``: its store, its tools, its LLM client and its planner.

Everything the agent opens is pushed on its exit stack, in order, so closing the stack
stops the planner, then the tool servers, then the store; a failure half-way closes what
was opened so far. What the agent was given (a store object, a connected ``ToolNode``,
an LLM client) is used as is and never closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from ..catalog import NodeSpec
from ..errors import ConfigError
from ._agent_build import expand_command, make_llm_client, python_tool_specs
from ._agent_llm import TEST_MODEL, AgentLLM
from ._agent_setup import AgentSetup, FileTool, ImportedClient
from .agent_config import PythonToolEntry
from .events import EventCallback
from .react import ReactPlanner

__all__ = ["OpenAgent", "open_agent"]


@dataclass(frozen=True, slots=True)
class OpenAgent:
    """What an open agent runs with.

    Attributes:
        planner: the planner.
        store: the session store (``None`` without one).
        catalog: every tool, in catalog order.
        loop: the event loop the agent was opened in (its connections belong to it).
    """

    planner: ReactPlanner
    store: Any
    catalog: list[NodeSpec]
    loop: asyncio.AbstractEventLoop


async def _open_store(store: Any, stack: AsyncExitStack) -> Any:
    if not isinstance(store, str):
        return store
    from ..sessions import SqlSessionStore

    opened = SqlSessionStore(store)
    stack.push_async_callback(opened.close)
    await opened.setup()
    return opened


async def _connect(config: Any, store: Any, stack: AsyncExitStack) -> list[NodeSpec]:
    from ..tools import OAuth2User, ToolNode

    credentials = None
    if isinstance(config.auth, OAuth2User):
        if store is None:
            raise ConfigError(
                f"tool {config.name!r} uses oauth2_user auth, which keeps each user's tokens "
                'in the session store: give the agent one, Agent(..., store="sqlite+aiosqlite:'
                '///agent.db")'
            )
        credentials = store
    node = ToolNode(config, credential_store=credentials)
    stack.push_async_callback(node.close)
    await node.connect()
    return node.specs


async def _file_tool(tool: FileTool, store: Any, stack: AsyncExitStack) -> list[NodeSpec]:
    entry = tool.entry
    if isinstance(entry, PythonToolEntry):
        return python_tool_specs(entry, tool.base_dir, tool.where)
    updates: dict[str, Any] = {}
    if entry.transport == "mcp" and entry.resolved_transport == "stdio":
        updates["connection"] = expand_command(entry.connection)
        if entry.cwd is None:
            updates["cwd"] = str(tool.base_dir)
    return await _connect(entry.model_copy(update=updates) if updates else entry, store, stack)


async def _catalog(tools: Sequence[Any], store: Any, stack: AsyncExitStack) -> list[NodeSpec]:
    from ..tools import ExternalToolConfig, ToolNode
    from ..tools.node import ToolNodeState

    catalog: list[NodeSpec] = []
    for index, tool in enumerate(tools):
        if isinstance(tool, NodeSpec):
            catalog.append(tool)
        elif isinstance(tool, FileTool):
            catalog.extend(await _file_tool(tool, store, stack))
        elif isinstance(tool, ExternalToolConfig):
            if tool.transport == "mcp" and tool.resolved_transport == "stdio":
                tool = tool.model_copy(update={"connection": expand_command(tool.connection)})
            catalog.extend(await _connect(tool, store, stack))
        elif isinstance(tool, ToolNode):
            if tool.state is not ToolNodeState.CONNECTED:
                raise ConfigError(
                    f"Agent(tools=[...]): tools[{index}] is ToolNode {tool.name!r}, which is "
                    f"{tool.state.value}: connect it first (`await tools.connect()`), or pass "
                    "its ExternalToolConfig and the agent connects and closes it"
                )
            catalog.extend(tool.specs)
    return catalog


def _base_client(setup: AgentSetup, catalog: list[NodeSpec]) -> Any:
    if isinstance(setup.llm_client, ImportedClient):
        imported = setup.llm_client
        return make_llm_client(imported.settings, catalog, imported.base_dir, None)[1]
    if setup.llm_client is not None:
        return setup.llm_client
    if setup.model is None:
        return None
    if setup.model == TEST_MODEL:
        from .testing import TestLLM

        return TestLLM()
    from ._config import make_client

    return make_client(setup.model, None, setup.planner_options.get("temperature", 0.0))


async def open_agent(
    setup: AgentSetup, llm: AgentLLM, callback: EventCallback, stack: AsyncExitStack
) -> OpenAgent:
    """Open the store, connect the tools, make the LLM client and build the planner.

    Args:
        setup: the agent's settings.
        llm: the planner's client; its ``base`` and ``catalog`` are set here.
        callback: the planner's event callback.
        stack: receives a closer for everything opened here.

    Raises:
        ConfigError: a tool or the model is misconfigured.
        ToolError: an MCP server or HTTP API could not be reached.
        SessionStoreError: the database could not be opened.
    """
    store = await _open_store(setup.store, stack)
    catalog = await _catalog(setup.tools, store, stack)
    llm.base = _base_client(setup, catalog)
    planner = ReactPlanner(
        llm_client=llm,
        catalog=catalog,
        state_store=store,
        short_term_memory=setup.memory,
        system_prompt_extra=setup.instructions,
        final_response_model=setup.output_type,
        event_callback=callback,
        name=setup.name,
        **setup.planner_options,
    )
    stack.push_async_callback(planner.aclose)
    return OpenAgent(planner, store, catalog, asyncio.get_running_loop())
