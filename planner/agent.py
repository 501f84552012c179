"""``Agent``: a ReactPlanner built from an agent config, with its tools, store and memory.

The ``penguiflow`` CLI is built on it, and so can your own scripts::

    from penguiflow.planner.agent import Agent

    async with Agent.from_file("agent.toml") as agent:
        result = await agent.run("What is on my calendar?", session_id="s1")
"""

from __future__ import annotations

import inspect
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import NodeSpec
from ..errors import ConfigError
from ._agent_build import expand_command, make_llm_client, python_tool_specs
from .agent_config import AgentConfig, PythonToolEntry, load_agent_config
from .events import EventCallback, PlannerEvent
from .llm_types import LLMClient
from .pause import PlannerPause
from .react import ReactPlanner
from .run_state import PlannerFinish

if TYPE_CHECKING:
    from ..memory import MemoryStore
    from ..sessions import SessionStore, SqlSessionStore
    from ..tools import CredentialStore

__all__ = ["Agent"]


class Agent:
    """A planner, its tools (Python, MCP, HTTP), its session store and its memory.

    Nothing is started until :meth:`start` (or ``async with``): then the store is opened
    (and its schema created or upgraded), MCP servers are started, HTTP tools are set up
    and the planner is built. :meth:`aclose` stops everything, in reverse order.

    Args:
        config: the agent's settings.
        model: a LiteLLM model string overriding ``[model]`` (the CLI's ``--model``).
        llm_client: an LLM client object overriding ``[model]`` (tests, offline use).
        store_url: a database URL overriding ``[store] url``.
        stream: overrides ``[planner] stream``.

    Attributes:
        config: the agent's settings.
        on_event: called with every ``PlannerEvent`` (sync or async); may be changed at
            any time, for example per run.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        model: str | None = None,
        llm_client: LLMClient | None = None,
        store_url: str | None = None,
        stream: bool | None = None,
    ) -> None:
        if model is not None and llm_client is not None:
            raise ConfigError("Agent takes model= or llm_client=, not both")
        self.config = config
        self.on_event: EventCallback | None = None
        self._model = model
        self._llm_client = llm_client
        self._store_url = config.store_url(store_url)
        self._stream = config.planner.stream if stream is None else stream
        self._stack: AsyncExitStack | None = None
        self._planner: ReactPlanner | None = None
        self._store: SqlSessionStore | None = None
        self._tool_nodes: list[Any] = []
        self._catalog: list[NodeSpec] = []

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Agent:
        """Load an agent config file and return an (unstarted) ``Agent`` for it.

        Args:
            path: a ``.toml``, ``.yaml`` or ``.yml`` agent config.
            **options: the keyword arguments of :class:`Agent`.

        Raises:
            ConfigError: the file is missing or invalid.
        """
        return cls(load_agent_config(path), **options)

    # -- properties ---------------------------------------------------------------------

    @property
    def planner(self) -> ReactPlanner:
        """The planner (after :meth:`start`)."""
        if self._planner is None:
            raise ConfigError("the Agent is not started; use `async with agent:` first")
        return self._planner

    @property
    def store(self) -> SqlSessionStore:
        """The ``SqlSessionStore`` (after :meth:`start`)."""
        if self._store is None:
            raise ConfigError("the Agent is not started; use `async with agent:` first")
        return self._store

    @property
    def store_url(self) -> str:
        """The database URL of the store."""
        return self._store_url

    @property
    def catalog(self) -> list[NodeSpec]:
        """The agent's tools (after :meth:`start`)."""
        return list(self._catalog)

    @property
    def tenant(self) -> str:
        """The tenant of the agent's runs."""
        return self.config.tenant

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> Agent:
        """Open the store, connect the tools and build the planner.

        Raises:
            ConfigError: a tool or the model is misconfigured.
            ToolError: an MCP server or HTTP API could not be reached.
            SessionStoreError: the database could not be opened.
        """
        if self._stack is not None:
            return self
        stack = AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def _start(self, stack: AsyncExitStack) -> None:
        from ..sessions import SqlSessionStore
        from ..tools import ToolNode

        config = self.config
        store = SqlSessionStore(self._store_url)
        await store.setup()
        stack.push_async_callback(store.close)
        self._store = store
        catalog: list[NodeSpec] = []
        for index, entry in enumerate(config.tools):
            where = f"tools[{index}]"
            if isinstance(entry, PythonToolEntry):
                catalog.extend(python_tool_specs(entry, config.base_dir, where))
                continue
            updates: dict[str, Any] = {}
            if entry.transport == "mcp" and entry.resolved_transport == "stdio":
                updates["connection"] = expand_command(entry.connection)
                if entry.cwd is None:
                    updates["cwd"] = str(config.base_dir)
            node = ToolNode(entry.model_copy(update=updates) if updates else entry)
            await node.connect()
            stack.push_async_callback(node.close)
            self._tool_nodes.append(node)
            catalog.extend(node.specs)
        self._catalog = catalog
        if self._llm_client is not None:
            llm, client = None, self._llm_client
        else:
            llm, client = make_llm_client(config.model, catalog, config.base_dir, self._model)
        settings = config.planner.model_dump(exclude={"stream"})
        options: dict[str, Any] = {
            "catalog": catalog,
            "temperature": config.model.temperature,
            "system_prompt_extra": config.system_prompt,
            "event_callback": self._dispatch,
            "stream_final_response": self._stream,
            **settings,
        }
        for name in ("pause_ttl_s", "run_lease_s"):
            value = getattr(config.store, name)
            if value is not None:
                options[name] = value
        planner = ReactPlanner(
            llm,
            llm_client=client,
            state_store=store,
            short_term_memory=config.memory,
            **options,
        )
        stack.push_async_callback(planner.aclose)
        self._planner = planner

    async def aclose(self) -> None:
        """Stop the planner, the tool servers and the store; safe to call twice."""
        stack, self._stack = self._stack, None
        self._planner = None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Agent:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- running ------------------------------------------------------------------------

    def memory_key(self, session_id: str | None) -> Any:
        """Return the ``MemoryKey`` of a session of this agent (``None`` without one)."""
        if session_id is None:
            return None
        from ..memory import MemoryKey

        return MemoryKey(tenant_id=self.tenant, user_id=self.config.user, session_id=session_id)

    async def run(
        self,
        query: str,
        *,
        session_id: str | None = None,
        tool_context: Any = None,
        llm_context: Any = None,
    ) -> PlannerFinish | PlannerPause:
        """Run the agent on ``query``.

        Args:
            query: the user's request.
            session_id: the conversation; runs of one session share memory.
            tool_context: handed to tools as ``ctx.tool_context``.
            llm_context: JSON context shown to the LLM.

        Returns:
            A ``PlannerFinish``, or a ``PlannerPause`` when a tool waits for a human.
        """
        options: dict[str, Any] = {
            "tenant_id": self.tenant,
            "tool_context": tool_context,
            "llm_context": llm_context,
        }
        return await self.planner.run(query, memory_key=self.memory_key(session_id), **options)

    async def resume(self, token: str, **decision: Any) -> PlannerFinish | PlannerPause:
        """Resume a paused run with a human's decision (see ``ReactPlanner.resume``).

        Args:
            token: the resume token of the pause.
            **decision: ``approve=``, ``approvals=``, ``user_input=``, ``edited_args=``,
                ``reason=``, ``tool_context=``; the tenant defaults to the agent's.

        Returns:
            A ``PlannerFinish``, or another ``PlannerPause``.
        """
        decision.setdefault("tenant_id", self.tenant)
        return await self.planner.resume(token, **decision)

    async def _dispatch(self, event: PlannerEvent) -> None:
        callback = self.on_event
        if callback is None:
            return
        result = callback(event)
        if inspect.isawaitable(result):
            await result

    def __repr__(self) -> str:
        return (
            f"Agent(name={self.config.name!r}, model={self.config.model_name()!r}, "
            f"tools={len(self.config.tools)}, store={self._store_url!r})"
        )


if TYPE_CHECKING:
    # mypy --strict checks this: the store an Agent builds (and each of its parts) is
    # every kind of store the planner, its memory and oauth2_user tools take.

    def _sql_store_serves(
        store: SqlSessionStore,
    ) -> tuple[SessionStore, MemoryStore, CredentialStore, MemoryStore, CredentialStore]:
        return store, store, store, store.memory, store.credentials
