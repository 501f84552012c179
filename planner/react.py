"""``ReactPlanner``: an LLM loop that picks tools from a typed catalog until it can answer.

Each step: assemble the request (under ``token_budget``), ask the LLM for one action,
repair it if needed (locally, then with LLM retries that state the validation error),
then act: finish, call a tool, or run a parallel plan. Tools run through the planner's
runtime flow. A run lives in a serialisable :class:`RunState` advanced one step at a
time, so it can be stored and continued elsewhere (:meth:`ReactPlanner.run_from_state`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from ..catalog import NodeSpec
from ..memory import MemoryKey, MemoryStore, ShortTermMemoryConfig
from ..node import Node
from ..registry import ModelRegistry
from ..sessions import SessionStore
from ..state import InMemoryStateStore
from ._active import ActiveRun, StepResult
from ._approval import has_approval_rule
from ._assembly import Parts, build_view, make_reflector
from ._bounded_json import DEFAULT_MAX_REPLY_CHARS, DEFAULT_MAX_REPLY_DEPTH, ReplyLimits
from ._config import (
    check_extras,
    check_int,
    check_options,
    check_run_args,
    make_catalog,
    make_client,
    make_hints,
)
from ._decisions import decision_json
from ._entering import RunEntry, no_sink
from ._executor import ToolExecutor
from ._guarding import Guard
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
from ._memory import PlannerMemory, RunMemory
from ._modes import ToolMode
from ._ownership import new_owner_id
from ._recovery import RecoveredRun, Recoverer
from ._resume import Resumer
from ._stores import planner_store
from ._views import Views, attach_policy
from .actions import ParallelCall, ParallelJoin, PlannerAction
from .errors import PlannerClosedError, RunStateError, StateStoreRequiredError
from .events import EventCallback, PlannerEvent
from .guardrails import GuardrailGateway
from .llm_types import LLMClient
from .pause import PlannerPause
from .prompts import PlanningHints
from .reflection import ReflectionConfig, ReflectionCriteria, ReflectionCritique
from .run_state import RUN_STATE_VERSION, FinalPayload, PlannerFinish, RunState, TrajectoryStep
from .schema import StringBounds
from .tokens import TokenAccountant, check_window
from .tool_policy import ToolPolicy

__all__ = [
    "FinalPayload",
    "ParallelCall",
    "ParallelJoin",
    "PlannerAction",
    "PlannerEvent",
    "PlannerEventCallback",
    "PlannerFinish",
    "PlannerPause",
    "ReactPlanner",
    "RecoveredRun",
    "ReflectionConfig",
    "ReflectionCriteria",
    "ReflectionCritique",
    "ToolMode",
    "ToolPolicy",
    "Trajectory",
    "TrajectoryStep",
]

Trajectory = RunState
"""A run's trajectory: the query, its context and the steps taken (``RunState``)."""

PlannerEventCallback = EventCallback
"""``def cb(event)`` or ``async def cb(event)`` receiving ``PlannerEvent``s."""


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
        absolute_max_parallel: most branches one parallel step may have; a bigger plan
            is refused and the model told to split it.
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
            lives in this process only). ``SqlSessionStore`` is both. An
            ``InMemoryStateStore`` holds them in this process only (tests, notebooks):
            pauses are lost on restart.
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
        tool_policy: removes tools from this planner (see :class:`ToolPolicy`; a run can
            narrow them further with ``run(tool_policy=...)``).
        reflection_config: critique, and revise, answers before finishing
            (:class:`ReflectionConfig`).
        reflection_llm: the critic's model (string, params dict or client) when
            ``reflection_config.use_separate_llm``.
        guardrail_gateway: checks on the query, tool calls and results, and answers
            (see :mod:`penguiflow.planner.guardrails`).
        time_source: the clock ``deadline_s`` is checked against before each step
            (seconds; default ``time.monotonic``); tool calls and LLM requests are still
            cut at the real deadline.
        llm_timeout_s: per-request timeout of a client built from ``llm``.
        llm_max_retries: retries of a client built from ``llm``.

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
        absolute_max_parallel: int = 50,
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
        state_store: SessionStore | MemoryStore | InMemoryStateStore | None = None,
        context_window: int | None = None,
        reserved_output_tokens: int | None = None,
        pause_ttl_s: float | None = 86400.0,
        resume_lease_s: float = 300.0,
        run_lease_s: float = 30.0,
        name: str | None = None,
        telemetry: PlannerTelemetry | None = None,
        tool_policy: ToolPolicy | None = None,
        reflection_config: ReflectionConfig | None = None,
        reflection_llm: str | Mapping[str, Any] | LLMClient | None = None,
        guardrail_gateway: GuardrailGateway | None = None,
        time_source: Callable[[], float] | None = None,
        llm_timeout_s: float | None = None,
        llm_max_retries: int | None = None,
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
        check_int("absolute_max_parallel", absolute_max_parallel, 1)
        check_window(context_window, reserved_output_tokens)
        check_extras(
            tool_policy=tool_policy,
            reflection_config=reflection_config,
            reflection_llm=reflection_llm,
            guardrail_gateway=guardrail_gateway,
            time_source=time_source,
            name=name,
            telemetry=telemetry,
        )
        self._name = name
        self._telemetry = telemetry
        retries = {"timeout_s": llm_timeout_s, "max_retries": llm_max_retries}
        self._client: LLMClient = make_client(llm, llm_client, temperature, retries)
        specs = make_catalog(nodes, registry, catalog)
        self._specs = tool_policy.filter(specs) if tool_policy is not None else specs
        model = getattr(self._client, "model", None)
        self._model_key = model if isinstance(model, str) else type(self._client).__name__
        self._max_iters = max_iters
        reply_tokens = reserved_output_tokens or getattr(self._client, "max_output_tokens", None)
        bounds = StringBounds.fitting(
            reply_tokens if isinstance(reply_tokens, int) else None,
            max_string_length=max_string_length,
            max_thought_length=max_thought_length,
        )
        self._tokens = TokenAccountant(
            model=model if isinstance(model, str) else None,
            client=self._client,
            token_budget=token_budget,
            context_window=context_window,
            reserved_output_tokens=reserved_output_tokens,
        )
        self._state_store = state_store
        store = planner_store(state_store)
        self._memory = PlannerMemory(
            short_term_memory,
            store=store,
            summarizer=self._client,
            model=model if isinstance(model, str) else None,
            callback=event_callback,
        )
        self._executor = ToolExecutor(self._specs, queue_maxsize=tool_queue_maxsize)
        self._hitl = HitlStore(
            store, pause_ttl_s=pause_ttl_s, owner_id=new_owner_id(), run_lease_s=run_lease_s
        )
        self._guard = Guard(guardrail_gateway) if guardrail_gateway is not None else None
        critic = None
        if reflection_config is not None and reflection_config.use_separate_llm:
            critic = make_client(reflection_llm, None, temperature, retries, what="reflection_llm")
        parts = Parts(
            client=self._client,
            model_key=self._model_key,
            tokens=self._tokens,
            executor=self._executor,
            hitl=self._hitl,
            guard=self._guard,
            reflector=make_reflector(
                reflection_config,
                client=self._client,
                critic=critic,
                final_model=final_response_model,
            ),
            hints=make_hints(planning_hints),
            tool_mode=tool_mode,
            json_schema_mode=json_schema_mode,
            final_model=final_response_model,
            bounds=bounds,
            tool_choice=tool_choice,
            limits=ReplyLimits(max_chars=max_reply_chars, max_depth=max_reply_depth),
            max_parallel=max_parallel,
            max_branches=absolute_max_parallel,
            system_prompt_extra=system_prompt_extra,
            stream=stream_final_response,
            repair_attempts=repair_attempts,
            hop_budget=hop_budget,
            max_arg_failures=max_consecutive_arg_failures,
            max_iters=max_iters,
            deadline_s=deadline_s,
        )
        self._views = Views(self._specs, functools.partial(build_view, parts))
        self._entry = RunEntry(
            tokens=self._tokens,
            memory=self._memory,
            model_key=self._model_key,
            deadline_s=deadline_s,
            clock=time_source or time.monotonic,
            callback=event_callback,
            max_parallel=max_parallel,
            guard=self._guard,
        )
        self._recoverer = Recoverer(self._hitl)
        self._resumer = Resumer(
            self._hitl,
            {spec.name: spec for spec in self._specs},
            self._executor,
            self._views.main.steps,
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
    def state_store(self) -> SessionStore | MemoryStore | InMemoryStateStore | None:
        """The store given as ``state_store`` (``None`` when the planner has none)."""
        return self._state_store

    @property
    def llm_client(self) -> LLMClient:
        """The LLM client in use."""
        return self._client

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The ``response_format`` of the next request to the current model (native: ``None``)."""
        modes = self._views.main.modes
        return modes.response_format(modes.mode(self._model_key))

    @property
    def tool_mode(self) -> Literal["native", "json"]:
        """How the next request to the current model is written: native tool calls or JSON."""
        return "native" if self._views.main.modes.mode(self._model_key) == "native" else "json"

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The catalog as native tool definitions (sent as ``tools`` in native mode)."""
        return self._views.main.modes.tools

    @property
    def system_prompt(self) -> str:
        """The system prompt of the next request to the current model."""
        modes = self._views.main.modes
        return str(modes.dialect(modes.mode(self._model_key)).system["content"])

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
        tool_policy: ToolPolicy | None = None,
        context_meta: Mapping[str, Any] | None = None,
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
            tool_policy: narrows the planner's tools for this run only (a tenant's tool
                set); it is stored with the run, so a resumed run keeps it.
            context_meta: the old name of ``llm_context`` (deprecated).

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
        llm_context = check_run_args(query, llm_context, context_meta)
        fields: dict[str, Any] = {"query": query, "llm_context": llm_context}
        if tenant_id is not None:
            fields["tenant_id"] = tenant_id
        if run_id is not None:
            fields["run_id"] = run_id
        self._memory.attach(fields, memory_key=memory_key, tool_context=tool_context)
        state = RunState(**fields)
        attach_policy(state, tool_policy)
        return await self.run_from_state(state, tool_context=tool_context)

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
        user_input: Any = None,
        *,
        approve: bool | None = None,
        approvals: Mapping[str, bool | str] | None = None,
        reason: str | None = None,
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
        await self._views.main.modes.settle()
        return await self._entry.enter(state, tool_context, self._views.of(state))

    async def _proceed(
        self, run: ActiveRun, memory: RunMemory | None, result: StepResult
    ) -> PlannerFinish | PlannerPause:
        """Drive the run (after the step that produced ``result``) to its end or a pause.

        The run is owned (its lease renewed) meanwhile, and however it ends, its stored
        record says so: finished, paused, failed (with the error) or cancelled.
        """
        try:
            async with self._hitl.working_on(run):
                ended = await run.view.loop.drive(run, result)
                if isinstance(ended, PlannerFinish):  # a paused run records its turn on finish
                    await self._memory.record(memory, run.state, ended)
                    await self._hitl.end_run(run, ended)
            return ended
        finally:
            # The sink is a method of ``run``: unlinking it frees the run without the GC.
            run.info.sink = no_sink

    def __repr__(self) -> str:
        names = [spec.name for spec in self._specs]
        return (
            f"ReactPlanner(model={self._model_key!r}, tools={names!r}, max_iters={self._max_iters})"
        )
