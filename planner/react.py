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
from typing import Any

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec
from ..errors import ConfigError
from ..node import Node
from ..registry import ModelRegistry
from ._answers import answer_streamer, final_payload, last_observation, partial_payload
from ._config import check_int, check_seconds, make_catalog, make_client, make_hints
from ._context import Transcript
from ._executor import CallInfo, ToolExecutor
from ._steps import ActiveRun, ArgFailureLimit, BudgetHit, StepRunner
from .actions import FINAL_RESPONSE, PARALLEL, FinalAnswerArgs, PlannerAction
from .errors import LLMResponseFormatError, PlannerClosedError, RunStateError
from .events import EventCallback
from .llm_types import LLMClient, LLMResponse, as_response
from .parse import describe_validation_error, parse_action
from .prompts import PlanningHints, build_system_prompt, query_message
from .repair import NO_OBJECT, repair_instruction, repair_locally
from .run_state import RUN_STATE_VERSION, FinalPayload, FinishReason, PlannerFinish, RunState
from .schema import FormatMemory, build_action_schemas
from .tokens import TokenCounter

__all__ = ["ReactPlanner"]

_ECHO_LIMIT = 2000


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
        json_schema_mode: send the catalog's strict schema as ``response_format``
            (``False``: ask for a JSON object only).
        system_prompt_extra: text appended to the system prompt.
        planning_hints: :class:`PlanningHints` or a dict of its fields.
        final_response_model: a pydantic model the final ``args`` must match; the
            instance is returned as ``payload.structured``.
        event_callback: ``def cb(event)`` or ``async def cb(event)`` for ``PlannerEvent``s.
        max_consecutive_arg_failures: argument validation failures of one tool in a row
            that end the run with ``no_path``.
        stream_final_response: stream the LLM's ``answer`` text as ``stream_chunk`` events.
        tool_queue_maxsize: queue capacity of each tool node in the planner's flow.
        max_string_length: ``maxLength`` of unbounded string arguments in the strict schema.

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
        json_schema_mode: bool = True,
        system_prompt_extra: str | None = None,
        planning_hints: PlanningHints | Mapping[str, Any] | None = None,
        final_response_model: type[BaseModel] | None = None,
        event_callback: EventCallback | None = None,
        max_consecutive_arg_failures: int = 3,
        stream_final_response: bool = False,
        tool_queue_maxsize: int = 64,
        max_string_length: int = 4096,
    ) -> None:
        check_int("max_iters", max_iters, 1)
        check_int("hop_budget", hop_budget, 0, optional=True)
        check_seconds("deadline_s", deadline_s)
        check_int("token_budget", token_budget, 1, optional=True)
        check_int("repair_attempts", repair_attempts, 0)
        check_int("max_parallel", max_parallel, 1)
        check_int("max_consecutive_arg_failures", max_consecutive_arg_failures, 1)
        check_int("max_string_length", max_string_length, 1)
        if not isinstance(temperature, int | float) or not 0.0 <= temperature <= 2.0:
            raise ConfigError(
                f"ReactPlanner(temperature=...) must be in [0, 2], got {temperature!r}"
            )
        if final_response_model is not None and not (
            isinstance(final_response_model, type) and issubclass(final_response_model, BaseModel)
        ):
            raise ConfigError(
                "ReactPlanner(final_response_model=...) must be a pydantic BaseModel subclass, "
                f"got {final_response_model!r}"
            )
        if event_callback is not None and not callable(event_callback):
            raise ConfigError("ReactPlanner(event_callback=...) must be callable or None")
        self._client: LLMClient = make_client(llm, llm_client, temperature)
        self._specs = make_catalog(nodes, registry, catalog)
        hints = make_hints(planning_hints)
        model = getattr(self._client, "model", None)
        self._model_key = model if isinstance(model, str) else type(self._client).__name__
        self._max_iters = max_iters
        self._deadline_s = deadline_s
        self._token_budget = token_budget
        self._repair_attempts = repair_attempts
        self._max_parallel = max_parallel
        self._final_model = final_response_model
        self._final_schema = (final_response_model or FinalAnswerArgs).model_json_schema()
        self._callback = event_callback
        self._stream = stream_final_response
        self._tool_names = [spec.name for spec in self._specs]
        self._known = frozenset([*self._tool_names, FINAL_RESPONSE, PARALLEL])
        self._schemas = build_action_schemas(
            self._specs,
            final_response_model=final_response_model,
            max_string_length=max_string_length,
        )
        self._formats = FormatMemory(first="strict" if json_schema_mode else "json_object")
        self.system_prompt = build_system_prompt(
            self._specs,
            max_parallel=max_parallel,
            hints=hints,
            extra=system_prompt_extra,
            final_response_model=final_response_model,
        )
        self._system_message = {"role": "system", "content": self.system_prompt}
        self._counter = TokenCounter(model if isinstance(model, str) else None)
        self._system_tokens: int | None = None
        self._format_tokens: dict[str, int] = {}
        self._executor = ToolExecutor(self._specs, queue_maxsize=tool_queue_maxsize)
        self._steps = StepRunner(
            self._specs,
            self._executor,
            hop_budget=hop_budget,
            hints=hints,
            max_arg_failures=max_consecutive_arg_failures,
        )
        self._closed = False

    # -- public surface -----------------------------------------------------------------

    @property
    def catalog(self) -> tuple[NodeSpec, ...]:
        """The tools this planner can call."""
        return tuple(self._specs)

    @property
    def llm_client(self) -> LLMClient:
        """The LLM client in use."""
        return self._client

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The ``response_format`` the next request to the current model would carry."""
        return self._schemas.response_format(self._formats.mode_for(self._model_key))

    async def aclose(self) -> None:
        """Stop the planner's tool flow; later ``run()`` calls raise ``PlannerClosedError``."""
        self._closed = True
        await self._executor.aclose()

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
    ) -> PlannerFinish:
        """Run the planner on ``query`` until it answers or a budget runs out.

        Args:
            query: the user's request.
            llm_context: JSON context shown to the LLM (read-only) and stored with the run.
            tool_context: any object handed to tools as ``ctx.tool_context``; never shown
                to the LLM nor stored.
            tenant_id: the tenant of the run (the ``Headers.tenant`` of tool calls).
            run_id: an id for the run (generated when omitted).

        Returns:
            A :class:`PlannerFinish` (``answer_complete``, ``no_path`` or
            ``budget_exhausted``).

        Raises:
            ConfigError: ``query`` is empty or ``llm_context`` is not JSON-serialisable.
            PlannerClosedError: the planner was closed.
            LLMError: the LLM client failed for good (after its own retries).
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
        return await self.run_from_state(RunState(**fields), tool_context=tool_context)

    async def run_from_state(self, state: RunState, *, tool_context: Any = None) -> PlannerFinish:
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
        run = self._activate(state, tool_context)
        try:
            return await self._drive(run)
        except Exception as exc:
            await run.event(
                "finish", error=f"{type(exc).__name__}: {exc}", extra={"reason": "error"}
            )
            raise

    # -- the loop -----------------------------------------------------------------------

    def _activate(self, state: RunState, tool_context: Any) -> ActiveRun:
        query = query_message(state.query, state.llm_context)
        if self._token_budget is None:
            transcript = Transcript(None, [self._system_message, query], 0)
        else:
            if self._system_tokens is None:
                self._system_tokens = self._counter.count_message(self._system_message)
            head_tokens = self._system_tokens + self._counter.count_message(query)
            transcript = Transcript(self._counter, [self._system_message, query], head_tokens)
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

    async def _drive(self, run: ActiveRun) -> PlannerFinish:
        state = run.state
        while True:
            hit = self._gate(run)
            if hit is not None:
                return await self._budget_finish(run, hit)
            state.budgets.iterations += 1
            run.info.step = state.budgets.iterations
            await run.event("step_start")
            decided = await self._decide(run)
            if isinstance(decided, BudgetHit):
                return await self._budget_finish(run, decided)
            if isinstance(decided, PlannerFinish):
                return await self._finish(run, decided.reason, decided.payload, decided.metadata)
            action, payload = decided
            if action.kind == "final":
                return await self._finish(
                    run, "answer_complete", payload, {"thought": action.thought}
                )
            if action.kind == "tool":
                result = await self._steps.run_tool(run, action)
            else:
                result = await self._steps.run_parallel(run, action)
            if isinstance(result, BudgetHit):
                return await self._budget_finish(run, result)
            if isinstance(result, ArgFailureLimit):
                error = (
                    f"tool {result.tool!r} failed argument validation {result.count} times in "
                    f"a row: {result.error}"
                )
                state.errors.append(error)
                payload = partial_payload(state, "the model kept sending invalid arguments")
                return await self._finish(run, "no_path", payload, {"error": error})

    def _gate(self, run: ActiveRun) -> BudgetHit | None:
        run.sync_elapsed()
        if run.state.budgets.iterations >= self._max_iters:
            return BudgetHit("max_iters", f"max_iters={self._max_iters} decisions made")
        remaining = run.remaining()
        if remaining is not None and remaining <= 0:
            return BudgetHit("deadline_s", f"deadline_s={self._deadline_s} passed")
        return None

    async def _decide(
        self, run: ActiveRun
    ) -> tuple[PlannerAction, FinalPayload | None] | PlannerFinish | BudgetHit:
        """Get one valid action: ask, parse, repair locally, then retry with the error."""
        state = run.state
        extra: list[dict[str, Any]] = []
        attempt = 0
        while True:
            mode = self._formats.mode_for(self._model_key)
            built = run.transcript.build(
                state,
                token_budget=self._token_budget,
                extra=extra,
                fixed_tokens=self._format_cost(mode),
            )
            if built is None:
                return BudgetHit(
                    "token_budget",
                    f"token_budget={self._token_budget} cannot hold the system prompt, query "
                    "and summary of earlier steps",
                )
            reply = await self._ask(run, *built)
            if isinstance(reply, BudgetHit):
                return reply
            outcome = parse_action(reply.text)
            error = outcome.error
            if outcome.action is None:
                repaired = repair_locally(reply.text, known_nodes=self._known)
                if repaired.action is not None:
                    state.repairs.local_repairs += 1
                    for fix in repaired.fixes:
                        state.repairs.fixes[fix] = state.repairs.fixes.get(fix, 0) + 1
                    await run.event(
                        "repair_attempt", extra={"stage": "local", "fixes": repaired.fixes}
                    )
                    outcome = repaired
                elif repaired.error != NO_OBJECT:
                    error = repaired.error
            if outcome.action is not None:
                checked = self._check(outcome.action)
                if not isinstance(checked, str):
                    return outcome.action, checked
                error = checked
            error = error or "the reply is not a valid action"
            if attempt >= self._repair_attempts:
                state.repairs.exhausted += 1
                message = f"no valid action after {attempt} repair attempt(s): {error}"
                state.errors.append(message)
                return PlannerFinish(
                    reason="no_path",
                    payload=partial_payload(state, "the model gave no valid action"),
                    metadata={"error": message},
                )
            attempt += 1
            state.repairs.llm_repairs += 1
            await run.event(
                "repair_attempt", error=error, extra={"stage": "llm", "attempt": attempt}
            )
            echo = (
                reply.text if len(reply.text) <= _ECHO_LIMIT else reply.text[:_ECHO_LIMIT] + "..."
            )
            extra = [
                {"role": "assistant", "content": echo},
                {
                    "role": "user",
                    "content": repair_instruction(error, valid_nodes=self._tool_names),
                },
            ]

    def _format_cost(self, mode: str) -> int:
        if self._token_budget is None:
            return 0
        cost = self._format_tokens.get(mode)
        if cost is None:
            response_format = self._schemas.response_format(mode)  # type: ignore[arg-type]
            cost = self._counter.count_json(response_format) if response_format else 0
            self._format_tokens[mode] = cost
        return cost

    async def _ask(
        self, run: ActiveRun, messages: list[dict[str, Any]], tokens: int
    ) -> LLMResponse | BudgetHit:
        """Send one request; step the ``response_format`` down if the provider rejects it."""
        state = run.state
        while True:
            mode = self._formats.mode_for(self._model_key)
            if tokens:
                state.budgets.tokens_last_request = tokens
                state.budgets.tokens_sent += tokens
            if run.callback is not None:
                await run.event(
                    "llm_request",
                    extra={"tokens": tokens, "messages": len(messages), "format": mode},
                )
            on_chunk = answer_streamer(run) if self._stream else None
            started = time.perf_counter()
            timeout = asyncio.timeout(run.remaining()) if run.deadline is not None else None
            request = self._client.complete(
                messages=messages,
                response_format=self._schemas.response_format(mode),
                stream=self._stream,
                on_stream_chunk=on_chunk,
            )
            try:
                if timeout is None:
                    reply = await request
                else:
                    async with timeout:
                        reply = await request
            except LLMResponseFormatError as exc:
                following = self._formats.step_down(self._model_key, mode)
                if following is None:
                    raise
                state.repairs.format_fallbacks += 1
                state.errors.append(
                    f"the provider rejected response_format {mode!r} ({exc.message}); "
                    f"using {following!r} for {self._model_key!r} from now on"
                )
                continue
            except TimeoutError:
                if timeout is not None and timeout.expired():
                    return BudgetHit("deadline_s", "the deadline passed while waiting for the LLM")
                raise
            response = as_response(reply)
            usage = state.usage
            usage.calls += 1
            reported = response.usage
            if reported.total_tokens:
                usage.prompt_tokens += reported.prompt_tokens
                usage.completion_tokens += reported.completion_tokens
                usage.total_tokens += reported.total_tokens
            if response.cost_usd:
                usage.cost_usd += response.cost_usd
            if run.callback is not None:
                await run.event(
                    "llm_response",
                    latency_ms=(time.perf_counter() - started) * 1000,
                    extra={"usage": reported.to_dict(), "cost_usd": response.cost_usd},
                )
            return response

    def _check(self, action: PlannerAction) -> FinalPayload | str | None:
        """Validate what the repair ladder covers: final args and the parallel shape."""
        if action.kind == "final":
            return final_payload(action.args, self._final_model, self._final_schema)
        if action.kind == "parallel":
            if not self._specs:
                return (
                    "there are no tools, so 'parallel' cannot be used; answer with final_response"
                )
            try:
                action.parallel_args()
            except ValidationError as exc:
                return f"invalid parallel plan: {describe_validation_error(exc, prefix='args.')}"
        return None

    # -- finishing ----------------------------------------------------------------------

    async def _budget_finish(self, run: ActiveRun, hit: BudgetHit) -> PlannerFinish:
        run.state.errors.append(f"budget exhausted: {hit.detail}")
        payload = partial_payload(run.state, f"{hit.budget} ran out: {hit.detail}")
        return await self._finish(
            run, "budget_exhausted", payload, {"budget": hit.budget, "error": hit.detail}
        )

    async def _finish(
        self,
        run: ActiveRun,
        reason: FinishReason,
        payload: FinalPayload | None,
        extra: Mapping[str, Any],
    ) -> PlannerFinish:
        run.sync_elapsed()
        metadata = run.state.metadata()
        metadata.update({k: v for k, v in extra.items() if v is not None})
        last = last_observation(run.state)
        if reason != "answer_complete" and last is not None:
            metadata["last_observation"] = last
        await run.event(
            "finish",
            extra={"reason": reason, **{k: v for k, v in extra.items() if isinstance(v, str)}},
        )
        return PlannerFinish(reason=reason, payload=payload, metadata=metadata)

    def __repr__(self) -> str:
        return (
            f"ReactPlanner(model={self._model_key!r}, tools={self._tool_names!r}, "
            f"max_iters={self._max_iters})"
        )


async def _no_sink(event_type: str, **fields: Any) -> None:
    return None
