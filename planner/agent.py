"""``Agent``: a model, tools, instructions, memory and a store, ready to run.

Built in code::

    from penguiflow import Agent, tool

    @tool
    async def get_weather(city: str) -> str:
        \"\"\"Current weather of a city.\"\"\"
        return f"Sunny in {city}"

    agent = Agent("openai/gpt-4o-mini", tools=[get_weather])
    result = await agent.run("Weather in Paris?")

or from an agent config file (the ``penguiflow`` command uses the same class)::

    async with Agent.from_file("agent.toml") as agent:
        result = await agent.run("What is on my calendar?", session_id="s1")

The agent opens its store, MCP servers and HTTP tools on first use (or on ``async
with``) and closes what it opened with :meth:`Agent.aclose`.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
import warnings
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..catalog import NodeSpec
from ..errors import ConfigError
from ..memory import MemoryKey, ShortTermMemoryConfig
from ._agent_llm import NO_MODEL, AgentLLM, make_override
from ._agent_open import OpenAgent, open_agent
from ._agent_setup import AgentSetup, setup_from_code, setup_from_config
from ._agent_stream import StreamItem, stream_run
from .agent_config import AgentConfig, load_agent_config
from .errors import AgentStateError
from .events import EventCallback, PlannerEvent
from .pause import PlannerPause
from .react import ReactPlanner
from .run_state import PlannerFinish
from .tool_policy import ToolPolicy

if TYPE_CHECKING:
    from ..memory import MemoryStore
    from ..sessions import SessionStore, SqlSessionStore
    from ..tools import CredentialStore

__all__ = ["Agent"]

Result = PlannerFinish | PlannerPause


class Agent:
    """An LLM agent: a model, tools, instructions, memory and a session store.

    Args:
        model: a LiteLLM model string (``"openai/gpt-4o-mini"``), a params dict
            (``{"model": "openai/my-model", "api_base": "http://127.0.0.1:8080/v1",
            "timeout_s": 120}``), or ``"test"`` for the offline ``TestLLM``.
        tools: typed functions (``@tool`` optional), ``Node``s, ``NodeSpec``s,
            ``ExternalToolConfig``s (MCP servers and HTTP APIs, connected and closed by
            the agent) and connected ``ToolNode``s (used as given).
        instructions: added to the system prompt.
        llm_client: an LLM client object instead of ``model``.
        memory: ``True`` (default): runs given a ``session_id`` remember that session's
            recent turns; ``False``: no memory; or a ``ShortTermMemoryConfig``.
        store: a database URL (``"sqlite+aiosqlite:///agent.db"``, opened and closed by
            the agent) or a store object such as ``SqlSessionStore`` (used as given).
            Needed for approvals (pauses) and to keep runs and memory across processes.
        output_type: a pydantic model the final answer must match
            (``result.payload.structured``).
        name: a label for the agent.
        tenant_id: the default tenant of runs.
        user_id: the default user of runs (part of the memory key).
        **planner_options: other ``ReactPlanner`` arguments (``max_iters``,
            ``deadline_s``, ``temperature``, ``stream_final_response``...).

    Attributes:
        on_event: called with every ``PlannerEvent`` of every run (sync or async); may be
            changed at any time.

    Raises:
        ConfigError: a bad, conflicting or unknown argument.
        ToolSignatureError: a tool function's signature cannot become a schema.
    """

    def __init__(
        self,
        model: str | Mapping[str, Any] | None = None,
        *,
        tools: Sequence[Any] = (),
        instructions: str | None = None,
        llm_client: Any = None,
        memory: bool | ShortTermMemoryConfig = True,
        store: str | Any = None,
        output_type: type[BaseModel] | None = None,
        name: str = "agent",
        tenant_id: str = "default",
        user_id: str = "default",
        **planner_options: Any,
    ) -> None:
        planner_options.setdefault("stream_final_response", True)
        self._adopt(
            setup_from_code(
                model,
                tools=tools,
                instructions=instructions,
                llm_client=llm_client,
                memory=memory,
                store=store,
                output_type=output_type,
                name=name,
                tenant_id=tenant_id,
                user_id=user_id,
                **planner_options,
            )
        )

    def _adopt(self, setup: AgentSetup) -> None:
        self._setup = setup
        self.on_event: EventCallback | None = None
        self._override: ContextVar[Any] = ContextVar(
            f"penguiflow_agent_llm_{id(self)}", default=None
        )
        self._llm = AgentLLM(self._override)
        self._open: OpenAgent | None = None
        self._stack: AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None
        self._entered = 0
        self._listeners: dict[str, asyncio.Queue[Any]] = {}

    @classmethod
    def from_config(cls, config: AgentConfig, **options: Any) -> Agent:
        """Return an (unopened) agent for a loaded agent config.

        Keyword arguments are those of :class:`Agent` and win over the file: ``tools`` are
        added after the file's tools, ``model`` replaces ``[model]`` (keeping its
        ``params``), planner options replace ``[planner]`` settings.

        Raises:
            ConfigError: a bad argument.
        """
        agent = cls.__new__(cls)
        agent._adopt(setup_from_config(config, **options))
        return agent

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Agent:
        """Load an agent config file and return an (unopened) agent for it.

        Args:
            path: a ``.toml``, ``.yaml`` or ``.yml`` agent config.
            **options: as for :meth:`from_config`.

        Raises:
            ConfigError: the file is missing or invalid, or a bad argument.
        """
        return cls.from_config(load_agent_config(path), **options)

    # -- properties ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The agent's label."""
        return self._setup.name

    @property
    def model_name(self) -> str:
        """A short description of the model (its name, or the client's type)."""
        return self._setup.model_name

    @property
    def config(self) -> AgentConfig | None:
        """The config file's settings, for an agent built from one."""
        return self._setup.config

    @property
    def tenant_id(self) -> str:
        """The default tenant of runs."""
        return self._setup.tenant_id

    @property
    def user_id(self) -> str:
        """The default user of runs."""
        return self._setup.user_id

    @property
    def store_url(self) -> str | None:
        """The database URL of the store (``None`` without one)."""
        store = self._setup.store
        return store if isinstance(store, str) else getattr(store, "url", None)

    @property
    def is_open(self) -> bool:
        """Whether the agent is open (its store, tools and planner are ready)."""
        return self._open is not None

    def _opened(self) -> OpenAgent:
        if self._open is None:
            raise AgentStateError(
                "the Agent is not open: use `async with agent:` or `await agent.start()` "
                "first (run() opens it by itself)"
            )
        return self._open

    @property
    def planner(self) -> ReactPlanner:
        """The planner (once open)."""
        return self._opened().planner

    @property
    def store(self) -> Any:
        """The session store (once open; ``None`` without one)."""
        return self._opened().store

    @property
    def catalog(self) -> list[NodeSpec]:
        """Every tool, MCP and HTTP tools included (once open)."""
        return list(self._opened().catalog)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> Agent:
        """Open the store, connect the tools and build the planner; no-op when open.

        Raises:
            AgentStateError: the agent is open in another event loop.
            ConfigError: a tool or the model is misconfigured.
            ToolError: an MCP server or HTTP API could not be reached.
            SessionStoreError: the database could not be opened.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._open is not None:
                self._check_loop(self._open)
                return self
            stack = AsyncExitStack()
            try:
                self._open = await open_agent(self._setup, self._llm, self._dispatch, stack)
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack
        return self

    async def aclose(self) -> None:
        """Close what the agent opened (planner, tool servers, store); safe to call twice.

        Runs still in progress fail. The agent can be opened again afterwards.
        """
        stack, self._stack = self._stack, None
        self._open = None
        self._entered = 0
        self._lock = None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Agent:
        await self.start()
        self._entered += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._entered -= 1
        if self._entered <= 0:
            await self.aclose()

    def _check_loop(self, opened: OpenAgent) -> None:
        if opened.loop is not asyncio.get_running_loop():
            raise AgentStateError(
                "this Agent was opened in another event loop; its connections belong to "
                "that loop. Close it there (`await agent.aclose()`), or use one loop"
            )

    def __del__(self) -> None:
        if getattr(self, "_open", None) is not None:
            warnings.warn(
                f"Agent {self.name!r} was not closed: use `async with agent:` or "
                "`await agent.aclose()` after its runs",
                ResourceWarning,
                stacklevel=2,
            )

    # -- running ------------------------------------------------------------------------

    async def _ready(self) -> ReactPlanner:
        opened = self._open
        if opened is None:
            opened = (await self.start())._opened()
        else:
            self._check_loop(opened)
        if self._llm.active() is None:
            raise ConfigError(NO_MODEL)
        return opened.planner

    @property
    def tool_sources(self) -> tuple[Any, ...]:
        """The tools as given: functions, nodes, MCP/HTTP configs (or config-file entries)."""
        config = self._setup.config
        return tuple(config.tools) if config is not None else tuple(self._setup.tools)

    def memory_key(
        self, session_id: str | None, *, tenant_id: str | None = None, user_id: str | None = None
    ) -> MemoryKey | None:
        """The memory key of a session's runs (``None`` without a session or memory)."""
        return self._memory_key(session_id, tenant_id or self.tenant_id, user_id)

    def _memory_key(
        self, session_id: str | None, tenant_id: str, user_id: str | None
    ) -> MemoryKey | None:
        if session_id is None or self._setup.memory is None:
            return None
        return MemoryKey(
            tenant_id=tenant_id, user_id=user_id or self.user_id, session_id=session_id
        )

    async def run(
        self,
        query: str,
        *,
        session_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        tool_context: Any = None,
        llm_context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        tool_policy: ToolPolicy | None = None,
    ) -> Result:
        """Run the agent on ``query``; opens the agent first if needed.

        Args:
            query: the user's request.
            session_id: the conversation; runs of one session share memory.
            tenant_id: the run's tenant (default: the agent's).
            user_id: the user (default: the agent's); part of the memory key.
            tool_context: handed to tools (``ctx.tool_context``); never shown to the LLM.
            llm_context: JSON context shown to the LLM.
            run_id: an id for the run (generated when omitted).
            tool_policy: narrows the agent's tools for this run only (a tenant's tool
                set); a resumed run keeps it.

        Returns:
            A ``PlannerFinish``, or a ``PlannerPause`` when a tool waits for a human.

        Raises:
            ConfigError: no model, or a bad argument.
            AgentStateError: the agent is open in another event loop.
            LLMError: the LLM failed for good.
        """
        planner = await self._ready()
        tenant = tenant_id or self.tenant_id
        return await planner.run(
            query,
            tenant_id=tenant,
            tool_context=tool_context,
            llm_context=llm_context,
            run_id=run_id,
            memory_key=self._memory_key(session_id, tenant, user_id),
            tool_policy=tool_policy,
        )

    async def resume(self, token: str, *, tenant_id: str | None = None, **decision: Any) -> Result:
        """Resume a paused run with a human's decision (see ``ReactPlanner.resume``).

        Args:
            token: the ``resume_token`` of the pause.
            tenant_id: the run's tenant (default: the agent's).
            **decision: ``approve=``, ``approvals=``, ``user_input=``, ``edited_args=``,
                ``reason=``, ``tool_context=``.

        Returns:
            A ``PlannerFinish``, or another ``PlannerPause``.
        """
        planner = await self._ready()
        return await planner.resume(token, tenant_id=tenant_id or self.tenant_id, **decision)

    def run_sync(self, query: str, **options: Any) -> Result:
        """Run the agent from synchronous code: open it, run ``query``, close it.

        Args:
            query: the user's request.
            **options: as for :meth:`run`.

        Raises:
            AgentStateError: called inside a running event loop (use ``await
                agent.run(...)`` there), or while the agent is open.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise AgentStateError(
                "agent.run_sync() cannot run inside a running event loop (a notebook, an "
                "async function); use `await agent.run(...)` there"
            )
        if self._open is not None:
            raise AgentStateError(
                "agent.run_sync() opens and closes the agent for each call, but it is open; "
                "use `await agent.run(...)` in the loop that opened it"
            )
        return asyncio.run(self._run_once(query, options))

    async def _run_once(self, query: str, options: dict[str, Any]) -> Result:
        async with self:
            return await self.run(query, **options)

    def stream(self, query: str, **options: Any) -> AsyncGenerator[StreamItem, None]:
        """Run ``query`` and yield its ``PlannerEvent``s as they happen, then its result.

        Answer text arrives as ``stream_chunk`` events (``extra["source"] == "llm"``);
        the last item is the ``PlannerFinish`` or ``PlannerPause``. Leaving the loop early
        (or cancelling the reader) cancels the run.

        Args:
            query: the user's request.
            **options: as for :meth:`run`.

        Raises:
            Exception: whatever :meth:`run` raises.
        """
        run_id = options.pop("run_id", None) or uuid.uuid4().hex

        def start(rid: str) -> Any:
            return self.run(query, run_id=rid, **options)

        return stream_run(start, run_id, self._listeners)

    @contextmanager
    def override(self, *, llm: Any) -> Iterator[None]:
        """Use another LLM inside the ``with`` block (in this context only), for tests.

        Args:
            llm: an LLM client (``TestLLM``, ``ScriptedLLM``, ``FunctionLLM``...), ``"test"``,
                or a LiteLLM model string.

        Raises:
            ConfigError: ``llm`` is none of these.
        """
        temperature = self._setup.planner_options.get("temperature", 0.0)
        token = self._override.set(make_override(llm, temperature))
        try:
            yield
        finally:
            self._override.reset(token)

    async def _dispatch(self, event: PlannerEvent) -> None:
        queue = self._listeners.get(getattr(event, "run_id", ""))
        if queue is not None:
            await queue.put(event)
        callback = self.on_event
        if callback is not None:
            result = callback(event)
            if inspect.isawaitable(result):
                await result

    def __repr__(self) -> str:
        return (
            f"Agent(name={self.name!r}, model={self.model_name!r}, "
            f"tools={len(self._setup.tools)}, store={self.store_url!r})"
        )


if TYPE_CHECKING:
    # mypy --strict checks this: the store an Agent builds (and each of its parts) is
    # every kind of store the planner, its memory and oauth2_user tools take.

    def _sql_store_serves(
        store: SqlSessionStore,
    ) -> tuple[SessionStore, MemoryStore, CredentialStore, MemoryStore, CredentialStore]:
        return store, store, store, store.memory, store.credentials
