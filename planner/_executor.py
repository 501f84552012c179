"""Tool execution through the runtime: one flow per planner, one trace per tool call.

Each catalog tool becomes an ingress-and-egress node of a flow owned by the planner
(started on first use, shared by every run). A call is a ``Message`` whose payload is
the validated args model, with its own trace id; ``NodePolicy`` timeouts, retries,
concurrency limits and bounded queues therefore apply to tool calls. The run's deadline
cancels the call's trace.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec
from ..context import Context
from ..errors import FlowError, FlowErrorCode, FlowStateError, TraceCancelled
from ..flow import PenguiFlow, create
from ..node import Node
from ..types import Headers, Message, StreamChunk
from ._approval import PauseSignal, check_pause_request
from ._hooks import RunTrace
from .pause import AWAIT_INPUT

__all__ = ["CallInfo", "CallKey", "ToolCaller", "ToolContext", "ToolExecutor", "ToolOutcome"]

CallKey = str | Callable[[], str]
"""A call's idempotency key, or a function computing it when a tool first asks."""

EventSink = Callable[..., Awaitable[None]]
"""``await sink(event_type, **fields)``: reports a planner event for the current run."""

OutcomeGuard = Callable[[str, BaseModel, "ToolOutcome"], Awaitable["ToolOutcome"]]
"""``await guard(tool, args, outcome)``: the outcome a successful call really has."""


@dataclass(slots=True)
class CallInfo:
    """Per-run data a tool call needs; looked up by trace id inside the tool node."""

    run_id: str
    tenant_id: str
    step: int
    sink: EventSink
    tool_context: Any = None
    llm_context: Any = None
    observed: bool = True
    trace: RunTrace | None = None  # the run's trace, when telemetry is on
    guard: OutcomeGuard | None = None  # checks a result before anyone sees it (guardrails)
    headers: Headers = field(init=False)  # of every call's message (frozen, shared)

    def __post_init__(self) -> None:
        self.headers = Headers(tenant=self.tenant_id)


class ToolContext:
    """The ``ctx`` a planner tool receives: ``async def tool(args, ctx)``.

    Attributes:
        tool_context: the ``tool_context`` given to ``planner.run`` (any object: clients,
            credentials, the user id...). It is never shown to the LLM nor stored.
        llm_context: the ``llm_context`` given to ``planner.run`` (shown to the LLM).
        runtime: the runtime :class:`~penguiflow.Context` of the node execution.
        run_id: the planner run.
        step: the planner step that made the call.
        tool_name: the tool being called.
        trace_id: the trace of this call in the planner's flow.
        tenant_id: the tenant of the run.
    """

    __slots__ = ("_info", "_key", "runtime", "step", "tool_name", "trace_id")
    __penguiflow_tool_context__: ClassVar[bool] = True
    """Marks the type: a tool parameter annotated ``ToolContext`` receives the context."""

    def __init__(
        self,
        runtime: Context,
        info: CallInfo | None,
        tool_name: str,
        trace_id: str,
        idempotency_key: CallKey | None = None,
    ) -> None:
        self.runtime = runtime
        self.tool_name = tool_name
        self.trace_id = trace_id
        self._key: CallKey = idempotency_key or trace_id
        self._info = info
        self.step = info.step if info else 0

    @property
    def run_id(self) -> str:
        """The planner run."""
        return self._info.run_id if self._info else ""

    @property
    def tenant_id(self) -> str:
        """The tenant of the run."""
        return self._info.tenant_id if self._info else ""

    @property
    def tool_context(self) -> Any:
        """The ``tool_context`` given to ``planner.run`` (never shown to the LLM)."""
        return self._info.tool_context if self._info else None

    @property
    def llm_context(self) -> Any:
        """The ``llm_context`` given to ``planner.run`` (shown to the LLM)."""
        return self._info.llm_context if self._info else None

    @property
    def idempotency_key(self) -> str:
        """A key unique to this call of this run, the same in every process that resumes it.

        Pass it to remote APIs that deduplicate requests, so that a call retried after a
        crash has its effect only once.
        """
        key = self._key
        if not isinstance(key, str):
            key = self._key = key()
        return key

    @property
    def meta(self) -> dict[str, Any]:
        """``run_id``, ``step``, ``tool``, ``trace_id`` and ``tenant_id`` of this call."""
        return {
            "run_id": self.run_id,
            "step": self.step,
            "tool": self.tool_name,
            "trace_id": self.trace_id,
            "tenant_id": self.tenant_id,
        }

    async def emit_chunk(
        self,
        text: str,
        seq: int | None = None,
        chunk: str | None = None,
        *,
        done: bool = False,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Stream progress text; it reaches ``event_callback`` as a ``stream_chunk`` event.

        ``ctx.emit_chunk(text)`` streams ``text``; the documented three-argument form
        ``ctx.emit_chunk(stream_id, seq, text)`` is accepted too (the stream id and
        sequence number go to the event's ``extra``).
        """
        extra: dict[str, Any] = {"source": "tool"}
        if chunk is not None:
            extra.update(stream_id=text, seq=seq)
            text = chunk
        if self._info is not None:
            await self._info.sink(
                "stream_chunk",
                node_name=self.tool_name,
                trace_id=self.trace_id,
                text=text,
                done=done,
                extra={**extra, **dict(meta or {})},
            )

    async def pause(
        self, reason: str = AWAIT_INPUT, payload: dict[str, Any] | None = None
    ) -> NoReturn:
        """Pause the run to ask a human for input; this call never returns.

        The run's state is committed to the planner's ``state_store`` and ``run()``
        returns a ``PlannerPause``. When the run is resumed with ``user_input=...``, that
        input becomes this call's result as the LLM sees it; the tool is not called again.
        The signal derives from ``BaseException``, so ``except Exception`` in the tool
        does not stop it.

        Args:
            reason: why the run waits (shown to the human), ``await_input`` by default.
            payload: what to ask (a JSON object), stored with the pause.

        Raises:
            ConfigError: ``reason`` is empty or ``payload`` is not a JSON object.
        """
        reason, payload = check_pause_request(reason, payload)
        raise PauseSignal(reason, payload)


class _Done:
    """What a tool node sends to the egress: the validated result, as JSON."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


@dataclass(slots=True)
class ToolOutcome:
    """The end of one tool call.

    Attributes:
        node: the tool.
        ok: whether it produced a result.
        result: the result as JSON (``None`` on failure).
        error: the failure, phrased for the LLM.
        code: the runtime's failure code (``node_timeout``, ``node_exception``...).
        deadline: the run's deadline ended the call.
        latency_ms: time from emit to result.
        trace_id: the call's trace.
        pause: ``(reason, payload)`` when the tool called ``ctx.pause``.
        attempts: how many times the tool function was called (retries included).
        failure: what failed, for the trajectory: ``node``, ``args``, ``error_code``
            (the exception's type, or the failure code) and ``message``.
    """

    node: str
    ok: bool
    result: Any = None
    error: str | None = None
    code: str | None = None
    deadline: bool = False
    latency_ms: float = 0.0
    trace_id: str = ""
    pause: tuple[str, dict[str, Any] | None] | None = None
    attempts: int = 0
    failure: dict[str, Any] | None = None


ToolCaller = Callable[..., Awaitable[ToolOutcome]]
"""``await call(name, args, info, deadline=..., key=...)``: runs one tool call."""


class _Call:
    """A call in flight, found by its trace id inside the tool node."""

    __slots__ = ("attempts", "info", "key")

    def __init__(self, info: CallInfo, key: CallKey | None) -> None:
        self.info = info
        self.key = key
        self.attempts = 0  # calls of the tool function: the node's policy may retry


def _tool_node(spec: NodeSpec, calls: dict[str, _Call]) -> Node:
    func = spec.node.func
    out_model = spec.out_model
    name = spec.name

    async def run_tool(message: Message, ctx: Context) -> _Done:
        trace_id = message.trace_id
        call = calls.get(trace_id)
        if call is None:
            context = ToolContext(ctx, None, name, trace_id)
        else:
            call.attempts += 1
            context = ToolContext(ctx, call.info, name, trace_id, call.key)
        result = await func(message.payload, context)
        if not isinstance(result, out_model):
            try:
                result = out_model.model_validate(result)
            except ValidationError as exc:
                raise ValueError(
                    f"tool {name!r} returned a value that does not match "
                    f"{out_model.__name__}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
                ) from exc
        return _Done(result.__pydantic_serializer__.to_python(result, mode="json"))

    run_tool.__name__ = f"planner_tool_{name}"
    return Node(run_tool, name=name, policy=spec.node.policy)


def _describe_failure(exc: FlowError, name: str) -> str:
    if exc.code is FlowErrorCode.NODE_TIMEOUT:
        return f"tool {name!r} timed out after {exc.attempts} attempt(s): {exc.message}"
    if exc.code is FlowErrorCode.DEADLINE_EXCEEDED:
        return f"tool {name!r} was stopped: the run's deadline passed"
    return f"tool {name!r} failed after {exc.attempts} attempt(s): {exc.message}"


class ToolExecutor:
    """Owns the planner's flow and runs tool calls through it.

    Args:
        specs: the catalog.
        queue_maxsize: capacity of each tool node's queue.
    """

    def __init__(self, specs: Sequence[NodeSpec], *, queue_maxsize: int = 64) -> None:
        self._calls: dict[str, _Call] = {}
        self._nodes = {spec.name: _tool_node(spec, self._calls) for spec in specs}
        self._effects = {spec.name: spec.side_effects for spec in specs}
        self._queue_maxsize = queue_maxsize
        self._flow: PenguiFlow | None = None
        self._callers: dict[str, Callable[[Message], Awaitable[Any]]] = {}
        self._closed = False
        self._ids = itertools.count()

    @property
    def started(self) -> bool:
        """Whether the flow was started."""
        return self._flow is not None

    def _start(self) -> dict[str, Callable[[Message], Awaitable[Any]]]:
        """Start the flow on first use; return each tool's caller."""
        if self._closed:
            raise FlowStateError("the planner was closed (aclose()); build a new ReactPlanner")
        if self._flow is None:
            flow = create(
                *(node.to() for node in self._nodes.values()), queue_maxsize=self._queue_maxsize
            )
            flow.run()
            self._flow = flow
            self._callers = {name: flow.caller(node) for name, node in self._nodes.items()}
        return self._callers

    async def aclose(self) -> None:
        """Stop the flow (idempotent); running calls end with an error outcome."""
        self._closed = True
        if self._flow is not None:
            await self._flow.stop()

    def call(
        self,
        name: str,
        args: BaseModel,
        info: CallInfo,
        *,
        deadline: float | None,
        key: CallKey | None = None,
    ) -> Coroutine[Any, Any, ToolOutcome]:
        """Run one tool call; await it for the outcome.

        Args:
            name: the tool (must be in the catalog).
            args: the validated args model (the message payload).
            info: the run's data for the tool context.
            deadline: ``time.monotonic()`` deadline of the run, or ``None``.
            key: the call's idempotency key (``ctx.idempotency_key``).

        Returns:
            A coroutine returning the outcome; failures and pauses are outcomes, never
            exceptions (except cancellation). With telemetry on, the call is inside an
            ``execute_tool`` span.
        """
        if info.trace is None:
            return self._call(name, args, info, deadline, key)
        return self._traced_call(info.trace, name, args, info, deadline, key)

    async def _traced_call(
        self,
        trace: RunTrace,
        name: str,
        args: BaseModel,
        info: CallInfo,
        deadline: float | None,
        key: CallKey | None,
    ) -> ToolOutcome:
        with trace.tool(name, side_effects=self._effects.get(name, "pure"), args=args) as span:
            outcome = await self._call(name, args, info, deadline, key)
            span.ended(
                trace_id=outcome.trace_id,
                ok=outcome.ok,
                code=outcome.code,
                result=outcome.result,
                attempts=outcome.attempts,
            )
            return outcome

    async def _call(
        self,
        name: str,
        args: BaseModel,
        info: CallInfo,
        deadline: float | None,
        key: CallKey | None,
    ) -> ToolOutcome:
        callers = self._callers or self._start()
        trace_id = f"{info.run_id}:{info.step}:{next(self._ids)}"
        remaining = None if deadline is None else deadline - time.monotonic()
        message = Message(
            payload=args,
            headers=info.headers,
            trace_id=trace_id,
            deadline_s=None if remaining is None else time.time() + max(remaining, 0.0),
        )
        if info.observed:
            await info.sink(
                "tool_call_start",
                node_name=name,
                trace_id=trace_id,
                extra={
                    "args": args.model_dump(mode="json"),
                    "args_json": args.model_dump_json(),
                    "tool_call_id": trace_id,
                    "tool_name": name,
                },
            )
        calls = self._calls
        call = calls[trace_id] = _Call(info, key)  # removed in the finally below
        started = time.perf_counter()
        ended = False  # the trace ended (result or failure); else it is cancelled below
        try:
            if remaining is None:
                item = await callers[name](message)
            else:
                async with asyncio.timeout(remaining):
                    item = await callers[name](message)
            if type(item) is not _Done:
                item = await self._follow(item, name, trace_id, info)
            ended = True
            outcome = ToolOutcome(name, True, item.result, trace_id=trace_id)
        except TimeoutError:
            outcome = ToolOutcome(
                name,
                False,
                error=f"tool {name!r} was stopped: the run's deadline passed",
                code=FlowErrorCode.DEADLINE_EXCEEDED.value,
                deadline=True,
                trace_id=trace_id,
            )
        except FlowError as exc:
            ended = True
            outcome = ToolOutcome(
                name,
                False,
                error=_describe_failure(exc, name),
                code=exc.code.value,
                deadline=exc.code is FlowErrorCode.DEADLINE_EXCEEDED,
                trace_id=trace_id,
                failure={
                    "node": name,
                    "args": args.model_dump(mode="json"),
                    "error_code": exc.metadata.get("exception_type") or exc.code.value,
                    "message": exc.message,
                },
            )
        except TraceCancelled as exc:
            ended = True
            error = f"tool {name!r} was cancelled: {exc.reason}"
            outcome = ToolOutcome(
                name, False, error=error, code="trace_cancelled", trace_id=trace_id
            )
        except FlowStateError as exc:
            ended = True
            error = f"tool {name!r} could not run: {exc}"
            outcome = ToolOutcome(name, False, error=error, code="flow_stopped", trace_id=trace_id)
        except PauseSignal as signal:
            ended = True
            outcome = ToolOutcome(name, False, code="paused", trace_id=trace_id)
            outcome.pause = (signal.reason, signal.payload)
        finally:
            del calls[trace_id]
            if not ended:
                await self._cancel_quietly(trace_id)
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        if outcome.ok and info.guard is not None:
            outcome = await info.guard(name, args, outcome)
        outcome.attempts = call.attempts
        if not info.observed:
            return outcome
        if outcome.pause is not None:
            pass  # the pause event follows once the pause is committed
        elif outcome.ok:
            await info.sink(
                "tool_call_result",
                node_name=name,
                trace_id=trace_id,
                latency_ms=outcome.latency_ms,
                extra={"result": outcome.result},
            )
        else:
            await info.sink(
                "tool_call_error",
                node_name=name,
                trace_id=trace_id,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                extra={"code": outcome.code},
            )
        await info.sink(
            "tool_call_end",
            node_name=name,
            trace_id=trace_id,
            latency_ms=outcome.latency_ms,
            extra={
                "tool_call_id": trace_id,
                "tool_name": name,
                "ok": outcome.ok,
                "code": outcome.code,
            },
        )
        return outcome

    async def call_many(
        self,
        calls: Sequence[tuple[str, BaseModel, CallKey | None]],
        info: CallInfo,
        *,
        deadline: float | None,
        limiter: asyncio.Semaphore,
        caller: ToolCaller | None = None,
    ) -> list[ToolOutcome]:
        """Run calls concurrently, at most ``limiter``'s value at once; results in order.

        Calls over the cap wait for a free slot; none is dropped.

        Args:
            calls: ``(tool, args, idempotency key)`` triples.
            info: the run's data for the tool context.
            deadline: ``time.monotonic()`` deadline of the run, or ``None``.
            limiter: bounds how many calls run at once.
            caller: runs each call (default: :meth:`call`; the resume path journals calls).
        """
        run_one = caller or self.call
        results: list[ToolOutcome | None] = [None] * len(calls)

        async def one(index: int, name: str, args: BaseModel, key: CallKey | None) -> None:
            async with limiter:
                results[index] = await run_one(name, args, info, deadline=deadline, key=key)

        async with asyncio.TaskGroup() as group:
            for index, (name, args, key) in enumerate(calls):
                group.create_task(one(index, name, args, key))
        return [r for r in results if r is not None]

    async def _follow(self, item: Any, name: str, trace_id: str, info: CallInfo) -> _Done:
        """Relay what the tool streamed before its result, then return the result.

        The tool's caller returns the trace's first item; chunks the tool emitted come
        before its result and are passed on as ``stream_chunk`` events.
        """
        flow = self._flow
        assert flow is not None
        while type(item) is not _Done:
            await self._relay(item, name, trace_id, info)
            item = await flow.fetch(trace_id=trace_id)
        return item

    async def _relay(self, item: Any, name: str, trace_id: str, info: CallInfo) -> None:
        """Pass a chunk a tool streamed through the runtime on as a planner event."""
        chunk = item.payload if isinstance(item, Message) else item
        if isinstance(chunk, StreamChunk):
            await info.sink(
                "stream_chunk",
                node_name=name,
                trace_id=trace_id,
                text=chunk.text,
                done=chunk.done,
                extra={"source": "tool", "seq": chunk.seq},
            )

    async def _cancel_quietly(self, trace_id: str) -> None:
        flow = self._flow
        if flow is None:
            return
        try:
            await flow.cancel(trace_id)
        except Exception:  # the flow may be stopping; the trace dies with it
            pass
