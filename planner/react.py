"""``ReactPlanner``: an LLM loop that picks tools from a typed catalog until it can answer.

Each step: assemble the request (under ``token_budget``), ask the LLM for one action,
repair it if needed (locally, then with LLM retries that state the validation error),
then act: finish, call a tool, or run a parallel plan. Tools run through the planner's
runtime flow. A run lives in a serialisable :class:`RunState` advanced one step at a
time, so it can be stored and continued elsewhere (:meth:`ReactPlanner.run_from_state`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from ..catalog import NodeSpec
from ..errors import ConfigError
from ..memory import MemoryKey, MemoryStore, ShortTermMemoryConfig
from ..node import Node
from ..registry import ModelRegistry
from ..sessions import SessionStore
from ._approval import has_approval_rule
from ._asking import Asker
from ._bounded_json import DEFAULT_MAX_REPLY_CHARS, DEFAULT_MAX_REPLY_DEPTH, ReplyLimits
from ._config import check_options, make_catalog, make_client, make_hints
from ._context import Transcript
from ._deciding import Decider
from ._decisions import decision_json
from ._executor import CallInfo, ToolExecutor
from ._hitl import HitlStore
from ._hooks import (
    PLANNER_HOOKS,
    TELEMETRY_EXTENSION,
    PlannerTelemetry,
    RunTrace,
    TraceRun,
    run_tracer,
    traced_run,
)
from ._loop import StepLoop
from ._memory import PlannerMemory, RunMemory
from ._modes import RequestModes, ToolMode
from ._ownership import new_owner_id
from ._recovery import RecoveredRun, Recoverer
from ._resume import Resumer
from ._steps import ActiveRun, StepResult, StepRunner
from .actions import FINAL_RESPONSE, PARALLEL, FinalAnswerArgs
from .errors import PlannerClosedError, RunStateError, StateStoreRequiredError
from .events import EventCallback
from .llm_types import LLMClient
from .pause import PlannerPause
from .prompts import PlanningHints, query_message
from .run_state import RUN_STATE_VERSION, PlannerFinish, RunState
from .schema import StringBounds, build_action_schemas
from .tokens import TokenAccountant, check_window

__all__ = ["ReactPlanner", "RecoveredRun", "ToolMode"]


class ReactPlanner:
    """Plans and runs tool calls with an LLM until it can answer the query.

    Args:
        llm: a LiteLLM model string (``"openai/gpt-4o-mini"``) or a params dict with a
            ``"model"`` key; builds a :class:`~penguiflow.planner.LiteLLMClient`.
        llm_client: any object implementing :class:`~penguiflow.planner.LLMClient`
            (exclusive with ``llm``).
        nodes: tool nodes (``async def tool(args, ctx)``), described with ``@tool``.
        registry: the args/output models of ``nodes``.
        catalog: prebuilt ``NodeSpec``s (exclusive with ``nodes``/``registry``).
        max_iters: most LLM decisions per run (repairs not counted).
        hop_budget: most tool invocations per run (parallel branches and joins count).
        deadline_s: wall time per run (monotonic clock); cancels in-flight tools.
        token_budget: most tokens per LLM request (system prompt with tool schemas,
            context, trajectory, ``response_format``); older steps are compacted to fit.
        repair_attempts: LLM retries for a reply that is not a valid action.
        max_parallel: most branches of a parallel step running at once, per run.
        temperature: sampling temperature for clients built from ``llm``.
        tool_mode: ``"native"`` sends the catalog as the request's ``tools`` and reads
            the reply's tool calls; ``"json"`` asks for one JSON action per reply (with
            a ``response_format``); ``"auto"`` (default) uses native tool calls when the
            client says its model handles them (``LiteLLMClient`` asks litellm), and
            falls back to JSON for good when the provider rejects them.
        json_schema_mode: in JSON mode, send the catalog's strict schema as
            ``response_format`` (``False``: ask for a JSON object only).
        system_prompt_extra: text appended to the system prompt.
        planning_hints: :class:`PlanningHints` or a dict of its fields.
        final_response_model: a pydantic model the final ``args`` must match; the
            instance is returned as ``payload.structured``.
        event_callback: ``def cb(event)`` or ``async def cb(event)`` for ``PlannerEvent``s.
        max_consecutive_arg_failures: argument validation failures of one tool in a row
            that end the run with ``no_path``.
        stream_final_response: stream the LLM's ``answer`` text as ``stream_chunk`` events.
        tool_queue_maxsize: queue capacity of each tool node in the planner's flow.
        max_string_length: in the strict schema, the ``maxLength`` of the answer and of
            string arguments without a ``max_length`` of their own. ``None``: half the
            reply's token limit (``reserved_output_tokens``, else the client's
            ``max_tokens``) in characters, at most 4096 (16000 for the answer), so a
            grammar-constrained reply ends before the limit cuts it off.
        max_thought_length: the ``maxLength`` of the ``thought`` in the strict schema.
            ``None``: a quarter of the reply's token limit, at most 500.
        tool_choice: in native mode, the tool the model must call (its name) or
            ``"required"`` (any tool), until the run's first tool step; then the
            provider chooses again, so the run can finish. ``None``: the provider
            chooses (with ``final_response_model``: ``"required"``, the answer being a
            tool call).
        max_reply_chars: the most characters of one reply the planner reads (JSON mode:
            the reply text; native mode: the text plus each call's name and arguments);
            a longer reply goes back to the model through the repair ladder.
        max_reply_depth: how deeply arrays and objects may nest in the JSON of a reply
            (the action in JSON mode, each call's arguments in native mode), at most
            128; a deeper reply goes back to the model through the repair ladder.
        short_term_memory: remember conversations across runs (see ``docs/memory.md``);
            a run uses memory when it has a key (``run(memory_key=...)`` or derived from
            ``tool_context``).
        state_store: a durable store such as ``SqlSessionStore``: runs are recorded
            and pauses for a human committed in a :class:`~penguiflow.sessions.SessionStore`
            (without one, a run that must pause fails with ``StateStoreRequiredError``),
            and short-term memory is persisted in a ``MemoryStore`` (``None``: memory
            lives in this process only). ``SqlSessionStore`` is both.
        pause_ttl_s: how long a pause can be resumed (``None``: until pruned).
        resume_lease_s: how long a resume holds its claim on a pause without renewing it;
            if the resuming process dies, another can take over after this.
        run_lease_s: how long this planner holds a running run it stores without
            renewing its lease (it renews every third of it); if the process dies, the
            run can be recovered (:meth:`recover_stale_runs`) once this has passed.
        context_window: the model's input window in tokens; ``None`` asks the client
            (``LiteLLMClient`` knows most models). Every request is kept under the window
            minus ``reserved_output_tokens``.
        reserved_output_tokens: tokens kept free for the reply; ``None`` uses the client's
            ``max_tokens`` param, else 4096, at most a quarter of the window.
        name: the agent's name, as traces show it (``invoke_agent <name>``).
        telemetry: trace and measure this planner's runs with this
            ``penguiflow.telemetry.Telemetry`` (default: what
            ``penguiflow.telemetry.instrument()`` turned on for the process, if anything).

    Raises:
        ConfigError: a missing, conflicting or out-of-range argument.
    """

    def __init__(
        self,
        llm: str | Mapping[str, Any] | None = None,
        *,
        llm_client: LLMClient | None = None,
        nodes: Sequence[Node] | None = None,
        registry: ModelRegistry | None = None,
        catalog: Sequence[NodeSpec] | None = None,
        max_iters: int = 8,
        hop_budget: int | None = None,
        deadline_s: float | None = None,
        token_budget: int | None = None,
        repair_attempts: int = 3,
        max_parallel: int = 4,
        temperature: float = 0.0,
        tool_mode: ToolMode = "auto",
        json_schema_mode: bool = True,
        system_prompt_extra: str | None = None,
        planning_hints: PlanningHints | Mapping[str, Any] | None = None,
        final_response_model: type[BaseModel] | None = None,
        event_callback: EventCallback | None = None,
        max_consecutive_arg_failures: int = 3,
        stream_final_response: bool = False,
        tool_queue_maxsize: int = 64,
        max_string_length: int | None = None,
        max_thought_length: int | None = None,
        tool_choice: str | None = None,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        max_reply_depth: int = DEFAULT_MAX_REPLY_DEPTH,
        short_term_memory: ShortTermMemoryConfig | None = None,
        state_store: SessionStore | MemoryStore | None = None,
        context_window: int | None = None,
        reserved_output_tokens: int | None = None,
        pause_ttl_s: float | None = 86400.0,
        resume_lease_s: float = 300.0,
        run_lease_s: float = 30.0,
        name: str | None = None,
        telemetry: PlannerTelemetry | None = None,
    ) -> None:
        check_options(
            max_iters=max_iters,
            hop_budget=hop_budget,
            deadline_s=deadline_s,
            token_budget=token_budget,
            repair_attempts=repair_attempts,
            max_parallel=max_parallel,
            max_consecutive_arg_failures=max_consecutive_arg_failures,
            max_string_length=max_string_length,
            max_thought_length=max_thought_length,
            max_reply_chars=max_reply_chars,
            max_reply_depth=max_reply_depth,
            pause_ttl_s=pause_ttl_s,
            resume_lease_s=resume_lease_s,
            run_lease_s=run_lease_s,
            temperature=temperature,
            final_response_model=final_response_model,
            event_callback=event_callback,
        )
        check_window(context_window, reserved_output_tokens)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"ReactPlanner(name=...) must be a non-empty string, got {name!r}")
        if telemetry is not None and not hasattr(telemetry, "planner"):
            raise ConfigError(
                "ReactPlanner(telemetry=...) takes a penguiflow.telemetry.Telemetry, got "
                f"{type(telemetry).__name__}"
            )
        self._name = name
        self._telemetry = telemetry
        self._client: LLMClient = make_client(llm, llm_client, temperature)
        self._specs = make_catalog(nodes, registry, catalog)
        hints = make_hints(planning_hints)
        model = getattr(self._client, "model", None)
        self._model_key = model if isinstance(model, str) else type(self._client).__name__
        self._max_iters = max_iters
        self._deadline_s = deadline_s
        self._max_parallel = max_parallel
        self._callback = event_callback
        self._tool_names = [spec.name for spec in self._specs]
        self._known = frozenset([*self._tool_names, FINAL_RESPONSE, PARALLEL])
        reply_tokens = reserved_output_tokens or getattr(self._client, "max_output_tokens", None)
        self._schemas = build_action_schemas(
            self._specs,
            final_response_model=final_response_model,
            bounds=StringBounds.fitting(
                reply_tokens if isinstance(reply_tokens, int) else None,
                max_string_length=max_string_length,
                max_thought_length=max_thought_length,
            ),
        )
        self._tokens = TokenAccountant(
            model=model if isinstance(model, str) else None,
            client=self._client,
            token_budget=token_budget,
            context_window=context_window,
            reserved_output_tokens=reserved_output_tokens,
        )
        self._modes = RequestModes(
            client=self._client,
            tool_mode=tool_mode,
            json_schema_mode=json_schema_mode,
            specs=self._specs,
            schemas=self._schemas,
            final_response_model=final_response_model,
            max_parallel=max_parallel,
            hints=hints,
            extra=system_prompt_extra,
            tokens=self._tokens,
            tool_choice=tool_choice,
        )
        self._memory = PlannerMemory(
            short_term_memory,
            store=state_store,
            summarizer=self._client,
            model=model if isinstance(model, str) else None,
            callback=event_callback,
        )
        asker = Asker(
            client=self._client,
            formats=self._modes.formats,
            schemas=self._schemas,
            tools=self._modes.tools,
            tool_choice=self._modes.tool_choice,
            model_key=self._model_key,
            stream=stream_final_response,
            forced_choice=self._modes.forced_choice,
        )
        self._decider = Decider(
            asker=asker,
            dialects=self._modes.dialects,
            names=self._modes.names,
            tokens=self._tokens,
            format_cost=self._modes.cost,
            known=self._known,
            tool_names=self._tool_names,
            has_tools=bool(self._specs),
            final_model=final_response_model,
            final_schema=(final_response_model or FinalAnswerArgs).model_json_schema(),
            repair_attempts=repair_attempts,
            limits=ReplyLimits(max_chars=max_reply_chars, max_depth=max_reply_depth),
        )
        self._executor = ToolExecutor(self._specs, queue_maxsize=tool_queue_maxsize)
        self._steps = StepRunner(
            self._specs,
            self._executor,
            hop_budget=hop_budget,
            hints=hints,
            max_arg_failures=max_consecutive_arg_failures,
        )
        self._state_store = state_store
        self._hitl = HitlStore(
            state_store, pause_ttl_s=pause_ttl_s, owner_id=new_owner_id(), run_lease_s=run_lease_s
        )
        self._recoverer = Recoverer(self._hitl)
        self._loop = StepLoop(
            self._decider, self._steps, self._hitl, max_iters=max_iters, deadline_s=deadline_s
        )
        self._resumer = Resumer(
            self._hitl,
            {spec.name: spec for spec in self._specs},
            self._executor,
            self._steps,
            lease_s=resume_lease_s,
        )
        gated = [spec.name for spec in self._specs if has_approval_rule(spec)]
        if gated and self._hitl.store is None:
            raise StateStoreRequiredError(gated[0])
        self._closed = False

    # -- public surface -----------------------------------------------------------------

    @property
    def catalog(self) -> tuple[NodeSpec, ...]:
        """The tools this planner can call."""
        return tuple(self._specs)

    @property
    def state_store(self) -> SessionStore | MemoryStore | None:
        """The store given as ``state_store`` (``None`` when the planner has none)."""
        return self._state_store

    @property
    def llm_client(self) -> LLMClient:
        """The LLM client in use."""
        return self._client

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The ``response_format`` of the next request to the current model (native: ``None``)."""
        return self._modes.response_format(self._modes.mode(self._model_key))

    @property
    def tool_mode(self) -> Literal["native", "json"]:
        """How the next request to the current model is written: native tool calls or JSON."""
        return "native" if self._modes.mode(self._model_key) == "native" else "json"

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The catalog as native tool definitions (sent as ``tools`` in native mode)."""
        return self._modes.tools

    @property
    def system_prompt(self) -> str:
        """The system prompt of the next request to the current model."""
        mode = self._modes.mode(self._model_key)
        return str(self._modes.dialect(mode).system["content"])

    async def aclose(self) -> None:
        """Stop the planner's tool flow; later ``run()`` calls raise ``PlannerClosedError``."""
        self._closed = True
        await self._executor.aclose()
        await self._memory.aclose()

    async def __aenter__(self) -> ReactPlanner:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run(
        self,
        query: str,
        *,
        llm_context: Mapping[str, Any] | None = None,
        tool_context: Any = None,
        tenant_id: str | None = None,
        run_id: str | None = None,
        memory_key: MemoryKey | Mapping[str, Any] | None = None,
    ) -> PlannerFinish | PlannerPause:
        """Run the planner on ``query`` until it answers, pauses, or a budget runs out.

        Args:
            query: the user's request.
            llm_context: JSON context shown to the LLM (read-only) and stored with the run.
            tool_context: any object handed to tools as ``ctx.tool_context``; never shown
                to the LLM nor stored.
            tenant_id: the tenant of the run (the ``Headers.tenant`` of tool calls).
            run_id: an id for the run (generated when omitted).
            memory_key: the conversation whose short-term memory the run uses (a
                ``MemoryKey`` or a mapping of its fields); ``None`` derives it from
                ``tool_context``. Without a complete key the run has no memory.

        Returns:
            A :class:`PlannerFinish` (``answer_complete``, ``no_path`` or
            ``budget_exhausted``), or a :class:`PlannerPause` once the run's state is
            committed to the ``state_store`` (resume it with :meth:`resume`).

        Raises:
            ConfigError: ``query`` is empty or ``llm_context`` is not JSON-serialisable.
            PlannerClosedError: the planner was closed.
            LLMError: the LLM client failed for good (after its own retries).
            StateStoreRequiredError: the run had to pause and there is no ``state_store``.
            PauseCommitError: the run had to pause and the commit failed (no token exists).
        """
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"planner.run(query=...) needs a non-empty string, got {query!r}")
        try:
            json.dumps(llm_context)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                "planner.run(llm_context=...) must be JSON-serialisable (it is shown to the "
                f"LLM and stored with the run); put other objects in tool_context: {exc}"
            ) from exc
        fields: dict[str, Any] = {"query": query, "llm_context": llm_context}
        if tenant_id is not None:
            fields["tenant_id"] = tenant_id
        if run_id is not None:
            fields["run_id"] = run_id
        self._memory.attach(fields, memory_key=memory_key, tool_context=tool_context)
        return await self.run_from_state(RunState(**fields), tool_context=tool_context)

    async def run_from_state(
        self, state: RunState, *, tool_context: Any = None
    ) -> PlannerFinish | PlannerPause:
        """Continue a run from its state (a new one, or one restored from storage).

        Args:
            state: the run; it is advanced in place.
            tool_context: handed to tools as ``ctx.tool_context``.

        Raises:
            PlannerClosedError: the planner was closed.
            RunStateError: the state was written by a newer PenguiFlow.
            LLMError: the LLM client failed for good.
        """
        if self._closed:
            raise PlannerClosedError("this ReactPlanner was closed; build a new one")
        if state.version > RUN_STATE_VERSION:
            raise RunStateError(state.run_id, state.version, RUN_STATE_VERSION)
        trace_run = self._trace_for("run")
        if trace_run is None:
            return await self._start(state, tool_context, None)
        return await traced_run(
            trace_run, state, lambda trace: self._start(state, tool_context, trace)
        )

    async def _start(
        self, state: RunState, tool_context: Any, trace: RunTrace | None
    ) -> PlannerFinish | PlannerPause:
        run, memory = await self._enter(state, tool_context)
        if trace is not None:
            run.info.trace = trace
            # Stored with the run: a process that recovers it continues this trace.
            state.extensions[TELEMETRY_EXTENSION] = trace.carrier()
        await self._hitl.open_run(run)
        return await self._proceed(run, memory, None)

    async def resume(
        self,
        token: str,
        *,
        approve: bool | None = None,
        approvals: Mapping[str, bool | str] | None = None,
        reason: str | None = None,
        user_input: Any = None,
        edited_args: Mapping[str, Any] | Sequence[Any] | None = None,
        tenant_id: str | None = None,
        tool_context: Any = None,
    ) -> PlannerFinish | PlannerPause:
        """Resume a paused run with a human's decision, exactly once, in any process.

        Args:
            token: the ``resume_token`` of the :class:`PlannerPause`.
            approve: ``True`` approves every pending call, ``False`` rejects them.
            approvals: per call id: ``True``, ``False`` or a rejection reason.
            reason: the rejection reason the LLM sees ("rejected by the reviewer: ...").
            user_input: the answer to a ``ctx.pause()``; it becomes the tool's result.
            edited_args: approve with these arguments (validated again): a dict, a dict
                of call id to arguments, or a list with one dict or ``None`` per call.
            tenant_id: the run's tenant (another tenant's token is not found).
            tool_context: handed to tools as ``ctx.tool_context`` (never stored).

        Returns:
            A :class:`PlannerFinish`, or a :class:`PlannerPause` if the run pauses again.

        Raises:
            PauseNotFoundError: unknown token, or another tenant's (``penguiflow.sessions``).
            PauseExpiredError: the pause expired.
            PauseAlreadyClaimedError: another resume of this token is running right now.
            PauseAlreadyResumedError: the token was already used; carries the stored outcome.
            ResumeDecisionError: the decision does not fit the pause (nothing ran; the
                pause is pending again). See ``docs/hitl.md`` for the rules.
            ConfigError: a decision value is not JSON, or the planner has no state store.
        """
        if self._closed:
            raise PlannerClosedError("this ReactPlanner was closed; build a new one")
        decision = decision_json(
            approve=approve,
            approvals=approvals,
            reason=reason,
            user_input=user_input,
            edited_args=edited_args,
        )
        return await self._resumer.resume(
            token,
            decision,
            tenant_id=tenant_id or "default",
            tool_context=tool_context,
            enter=self._enter,
            proceed=self._proceed,
            trace=self._trace_for("resume"),
        )

    async def recover_stale_runs(
        self,
        *,
        tenant_id: str | None = None,
        limit: int | None = None,
        tool_context: Any = None,
    ) -> list[RecoveredRun]:
        """Continue, here, the stored runs whose process died (their lease lapsed).

        Each such run is claimed exactly once among all processes and continued from
        its last committed state (where it started, or where its last pause was
        resolved); approved calls made before that never run again. See
        ``docs/hitl.md``.

        Args:
            tenant_id: only this tenant's runs (``None``: every tenant's).
            limit: recover at most this many runs (``None``: until none is left).
            tool_context: handed to the recovered runs' tools (never stored).

        Returns:
            One :class:`RecoveredRun` per run taken over, with how it ended here.

        Raises:
            ConfigError: the planner has no state store.
            PlannerClosedError: the planner was closed.
        """
        if self._closed:
            raise PlannerClosedError("this ReactPlanner was closed; build a new one")
        return await self._recoverer.recover(
            tenant_id=tenant_id,
            limit=limit,
            tool_context=tool_context,
            enter=self._enter,
            proceed=self._proceed,
            trace=self._trace_for("recover"),
        )

    def _trace_for(self, how: Literal["run", "resume", "recover"]) -> TraceRun | None:
        """What opens the span of a run (``None``: telemetry off for this planner)."""
        hooks = PLANNER_HOOKS.planner if self._telemetry is None else self._telemetry.planner
        if hooks is None:
            return None
        return run_tracer(hooks, agent=self._name, model=self._model_key, how=how)

    # -- the loop -----------------------------------------------------------------------

    async def _enter(self, state: RunState, tool_context: Any) -> tuple[ActiveRun, Any]:
        await self._modes.settle()
        memory = await self._open_memory(state)
        return self._activate(state, tool_context, memory), memory

    async def _proceed(
        self, run: ActiveRun, memory: RunMemory | None, result: StepResult
    ) -> PlannerFinish | PlannerPause:
        """Drive the run (after the step that produced ``result``) to its end or a pause.

        The run is owned (its lease renewed) meanwhile, and however it ends, its stored
        record says so: finished, paused, failed (with the error) or cancelled.
        """
        try:
            async with self._hitl.working_on(run):
                ended = await self._loop.drive(run, result)
                if isinstance(ended, PlannerFinish):  # a paused run records its turn on finish
                    await self._memory.record(memory, run.state, ended)
                    await self._hitl.end_run(run, ended)
            return ended
        finally:
            # The sink is a method of ``run``: unlinking it frees the run without the GC.
            run.info.sink = _no_sink

    async def _open_memory(self, state: RunState) -> RunMemory | None:
        """Load the run's memory block, in the room the token accountant leaves it."""
        await self._tokens.prepare()
        if not self._memory.enabled:
            return None
        room = None
        if self._tokens.request_counter is not None:
            mode = self._modes.mode(self._model_key)
            fixed = (
                self._modes.dialect(mode).system_tokens(self._tokens.counter)
                + self._tokens.counter.count_message(query_message(state.query, state.llm_context))
                + self._modes.cost(mode)
            )
            room = self._tokens.memory_room(fixed)
        return await self._memory.open(state, room=room, counter=self._tokens.counter)

    def _activate(self, state: RunState, tool_context: Any, memory: RunMemory | None) -> ActiveRun:
        query = query_message(state.query, state.llm_context)
        dialect = self._modes.dialect(self._modes.mode(self._model_key))
        head = [dialect.system, query]
        counter = self._tokens.request_counter
        head_tokens = 0
        if counter is not None:
            head_tokens = dialect.system_tokens(counter)
            head_tokens += counter.count_message(query)
        if memory is not None and memory.message is not None:
            head.insert(1, memory.message)  # read-only block, apart from the query
            head_tokens += memory.tokens if counter is not None else 0
        transcript = Transcript(counter, head, head_tokens, dialect)
        now = time.monotonic()
        deadline = (
            None if self._deadline_s is None else now + self._deadline_s - state.budgets.elapsed_s
        )
        info = CallInfo(
            state.run_id,
            state.tenant_id,
            state.budgets.iterations,
            _no_sink,
            tool_context,
            state.llm_context,
        )
        run = ActiveRun(
            state,
            transcript,
            info,
            asyncio.Semaphore(self._max_parallel),
            self._callback,
            deadline,
            now,
            state.budgets.elapsed_s,
        )
        info.sink = run.event
        info.observed = self._callback is not None
        return run

    def __repr__(self) -> str:
        return (
            f"ReactPlanner(model={self._model_key!r}, tools={self._tool_names!r}, "
            f"max_iters={self._max_iters})"
        )


async def _no_sink(event_type: str, **fields: Any) -> None:
    return None
