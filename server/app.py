"""``create_agent_app``: serve a ReactPlanner over HTTP (an ASGI app on Starlette).

Endpoints (JSON; the tenant comes from each request and scopes every call: run ids are
the tenant's own, so two tenants may use the same id, and another tenant's run or pause
is reported exactly like an unknown one, ``404``):

=======  ============================  =====================================================
POST     ``/runs``                     start a run: ``{"query", "llm_context"?, "run_id"?,
                                       "session_id"?, "user_id"?, "wait"?}`` -> ``202`` record
                                       (``200`` with the result when ``wait`` is true)
GET      ``/runs/{run_id}``            the run's record: ``status`` (``running``,
                                       ``finished``, ``paused``, ``failed``,
                                       ``cancelled``), ``result``, ``error``
GET      ``/runs/{run_id}/events``     Server-Sent Events (planner events, then ``end``);
                                       ``?after=<id>`` resumes after an event id
POST     ``/runs/{run_id}/cancel``     cancel a running run
GET      ``/pauses``                   the tenant's pauses (``?status=pending&limit=50``)
POST     ``/resume``                   decide a pause: ``{"token", "approve"?,
                                       "approvals"?, "reason"?, "user_input"?,
                                       "edited_args"?, "wait"?}`` -> a run record, as
                                       for ``/runs`` (see ``ReactPlanner.resume``)
GET      ``/healthz``                  liveness
=======  ============================  =====================================================

A paused run's ``result`` holds the ``PlannerPause`` with its ``resume_token``: only the
tenant that started the run can read it. Serve the app with any ASGI server, for example
``uvicorn.run(app)``.

With telemetry on (``penguiflow.telemetry``), a run started by a request that carries a
W3C ``traceparent`` header (as ``HttpRemoteTransport`` sends) joins the caller's trace,
unless a span is already current (an ASGI tracing middleware made one).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._hooks import HOOKS
from ..errors import ConfigError, UsageError
from ..planner.events import EventCallback
from ..planner.react import ReactPlanner
from ..sessions.errors import (
    PauseAlreadyClaimedError,
    PauseExpiredError,
    PauseNotFoundError,
    RunInUseError,
    RunNotFoundError,
)
from ._runs import RunHandle, RunRegistry, jsonable, sse_stream

__all__ = [
    "PlannerFactory",
    "TenantResolver",
    "ToolContextFactory",
    "create_agent_app",
    "header_tenant",
]

logger = logging.getLogger("penguiflow.planner.http")

TenantResolver: TypeAlias = Callable[[Request], str | Awaitable[str | None] | None]
"""Returns the tenant of a request (``None``: unauthenticated, answered with ``401``)."""

PlannerFactory: TypeAlias = Callable[[EventCallback], ReactPlanner | Awaitable[ReactPlanner]]
"""Builds the served planner; pass the given callback as ``event_callback=``."""

ToolContextFactory: TypeAlias = Callable[[Request, str], Any]
"""``(request, tenant) -> tool_context`` (may be async) for each run or resume."""

_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


class _StartRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=100_000)
    llm_context: dict[str, Any] | None = None
    run_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    session_id: str | None = Field(default=None, max_length=255)
    user_id: str | None = Field(default=None, max_length=255)
    trace_id: str | None = Field(default=None, max_length=255)
    skill: str | None = Field(default=None, max_length=255)
    wait: bool = False


class _Resume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512)
    approve: bool | None = None
    approvals: dict[str, bool | str] | None = None
    reason: str | None = Field(default=None, max_length=2000)
    user_input: Any = None
    edited_args: dict[str, Any] | list[dict[str, Any] | None] | None = None
    wait: bool = False


def header_tenant(name: str = "X-Tenant-ID") -> TenantResolver:
    """Return a resolver that reads the tenant from the request header ``name``.

    Only use it behind a gateway that sets (and strips client copies of) the header;
    otherwise resolve the tenant from your authentication.
    """

    def resolve(request: Request) -> str | None:
        value = request.headers.get(name, "").strip()
        return value or None

    return resolve


class _HTTPError(Exception):
    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


def _status_for(exc: BaseException) -> int:
    """The HTTP status an error maps to."""
    if isinstance(exc, PauseNotFoundError | RunNotFoundError):
        return 404
    if isinstance(exc, PauseExpiredError):
        return 410
    if isinstance(exc, PauseAlreadyClaimedError | RunInUseError):
        return 409
    if isinstance(exc, UsageError | ValidationError):
        return 400
    return 500


def _error_info(exc: BaseException) -> dict[str, Any]:
    status = _status_for(exc)
    message = str(exc) if status < 500 else f"{type(exc).__name__}: {exc}"
    info: dict[str, Any] = {"type": type(exc).__name__, "message": message[:2000]}
    info["status_code"] = status
    outcome = getattr(exc, "outcome", None)
    if outcome is not None:
        info["outcome"] = jsonable(outcome)
    return info


class _AgentService:
    """The state behind one app: the planner, the runs, the store."""

    def __init__(
        self,
        factory: PlannerFactory,
        *,
        store: Any,
        tenant_from_request: TenantResolver,
        tool_context_from_request: ToolContextFactory | None,
        registry: RunRegistry,
        keepalive_s: float,
    ) -> None:
        self._factory = factory
        self._store = store
        self._tenant_from_request = tenant_from_request
        self._tool_context = tool_context_from_request
        self.runs = registry
        self._keepalive_s = keepalive_s
        self._planner: ReactPlanner | None = None
        self._lock = asyncio.Lock()

    # -- plumbing -------------------------------------------------------------------------

    async def planner(self) -> ReactPlanner:
        if self._planner is None:
            async with self._lock:
                if self._planner is None:
                    made = self._factory(self.runs.on_event)
                    self._planner = await made if inspect.isawaitable(made) else made
        return self._planner

    async def store(self) -> Any:
        if self._store is not None:
            return self._store
        return (await self.planner()).state_store

    async def aclose(self) -> None:
        await self.runs.aclose()
        if self._planner is not None:
            planner, self._planner = self._planner, None
            await planner.aclose()

    async def tenant(self, request: Request) -> str:
        found = self._tenant_from_request(request)
        tenant = await found if inspect.isawaitable(found) else found
        if not tenant:
            raise _HTTPError(401, "no tenant: the request must identify its tenant")
        return str(tenant)

    async def tool_context(self, request: Request, tenant: str) -> Any:
        if self._tool_context is None:
            return None
        made = self._tool_context(request, tenant)
        return await made if inspect.isawaitable(made) else made

    @staticmethod
    async def body(request: Request, model: type[BaseModel]) -> Any:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_input=False, include_url=False)
            ]
            raise _HTTPError(422, "invalid request body", errors=errors) from exc

    def handle(self, request: Request, tenant: str) -> RunHandle:
        handle = self.runs.get(request.path_params["run_id"], tenant)
        if handle is None:
            raise _HTTPError(404, "no such run")
        return handle

    async def _drive(self, handle: RunHandle, work: Coroutine[Any, Any, Any]) -> None:
        try:
            outcome = await work
        except asyncio.CancelledError:
            handle.finish("cancelled")
            raise
        except Exception as exc:
            if _status_for(exc) >= 500:
                logger.exception("agent run failed", extra={"run_id": handle.run_id})
            handle.finish("failed", error=_error_info(exc))
            return
        paused = type(outcome).__name__ == "PlannerPause"
        result = jsonable(outcome)
        if isinstance(result, dict):
            result["type"] = "pause" if paused else "finish"
        handle.finish("paused" if paused else "finished", result=result)

    async def launch(
        self,
        request: Request,
        handle: RunHandle,
        work: Coroutine[Any, Any, Any],
        *,
        wait: bool,
    ) -> Response:
        with _joined(request):  # the task starts in the caller's trace
            handle.task = asyncio.create_task(
                self._drive(handle, work), name=f"agent-run-{handle.run_id}"
            )
        if not wait:
            return JSONResponse(handle.record(), status_code=202)
        await asyncio.wait({handle.task})
        status = 200 if handle.error is None else int(handle.error.get("status_code", 500))
        return JSONResponse(handle.record(), status_code=status)

    # -- endpoints ------------------------------------------------------------------------

    async def start_run(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        body: _StartRun = await self.body(request, _StartRun)
        planner = await self.planner()
        run_id = body.run_id or uuid.uuid4().hex
        if body.run_id is not None and await self._stored(run_id, tenant):
            raise _HTTPError(409, f"run id {run_id!r} is already in use; choose another")
        kwargs: dict[str, Any] = {
            "llm_context": body.llm_context,
            "tool_context": await self.tool_context(request, tenant),
            "tenant_id": tenant,
            "run_id": run_id,
        }
        if self.runs.in_use(run_id, tenant):  # checked last: no await until it is taken
            raise _HTTPError(409, f"run id {run_id!r} is already in use; choose another")
        if body.session_id is not None:
            kwargs["memory_key"] = {
                "tenant_id": tenant,
                "user_id": body.user_id,
                "session_id": body.session_id,
            }
        handle = self.runs.new(run_id, tenant, "run", run_id)
        return await self.launch(request, handle, planner.run(body.query, **kwargs), wait=body.wait)

    async def _stored(self, run_id: str, tenant: str) -> bool:
        """Whether the store has the tenant's run ``run_id`` (started here or elsewhere)."""
        store = await self.store()
        if store is None:
            return False
        try:
            await store.get_run(run_id, tenant_id=tenant)
        except RunNotFoundError:
            return False
        return True

    async def get_run(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        return JSONResponse(self.handle(request, tenant).record())

    async def run_events(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        handle = self.handle(request, tenant)
        try:
            after = int(request.query_params.get("after", "-1"))
        except ValueError as exc:
            raise _HTTPError(400, "after must be an integer event id") from exc
        return StreamingResponse(
            sse_stream(handle, after=after, keepalive_s=self._keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def cancel_run(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        handle = self.handle(request, tenant)
        task = handle.task
        if task is not None and not task.done():
            task.cancel("cancelled through the HTTP API")
            await asyncio.wait({task}, timeout=10.0)
        return JSONResponse(handle.record())

    async def list_pauses(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        await self.planner()
        store = await self.store()
        if store is None:
            raise _HTTPError(501, "this agent has no session store, so it cannot pause")
        status = request.query_params.get("status") or None
        try:
            limit = min(max(int(request.query_params.get("limit", "100")), 1), 1000)
        except ValueError as exc:
            raise _HTTPError(400, "limit must be an integer") from exc
        try:
            found = await store.list_pauses(tenant_id=tenant, status=status, limit=limit)
        except ValueError as exc:
            raise _HTTPError(400, f"bad status {status!r}: {exc}") from exc
        return JSONResponse({"pauses": [jsonable(p) for p in found]})

    async def resume(self, request: Request) -> Response:
        tenant = await self.tenant(request)
        body: _Resume = await self.body(request, _Resume)
        planner = await self.planner()
        resume = getattr(planner, "resume", None)
        store = await self.store()
        if resume is None or store is None:
            raise _HTTPError(501, "this agent cannot resume runs (no planner.resume or store)")
        try:
            pause = await store.get_pause(body.token, tenant_id=tenant)
        except Exception as exc:
            status = _status_for(exc)
            if status >= 500:
                raise
            raise _HTTPError(status, str(exc)) from exc
        decision = body.model_dump(exclude={"token", "wait"}, exclude_none=True)
        work = resume(
            body.token,
            **decision,
            tenant_id=tenant,
            tool_context=await self.tool_context(request, tenant),
        )
        handle = self.runs.new(uuid.uuid4().hex, tenant, "resume", pause.run_id)
        return await self.launch(request, handle, work, wait=body.wait)

    @staticmethod
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})


def _joined(request: Request) -> contextlib.AbstractContextManager[None]:
    """The trace context of ``request``'s ``traceparent`` header, current in the block."""
    hooks = HOOKS.runtime
    if hooks is None:
        return contextlib.nullcontext()
    return hooks.attached(request.headers)


def _guard(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except _HTTPError as exc:
            return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status_code)

    return guarded


def create_agent_app(
    planner_factory: PlannerFactory,
    *,
    store: Any = None,
    tenant_from_request: TenantResolver | None = None,
    tool_context_from_request: ToolContextFactory | None = None,
    max_runs: int = 1000,
    run_ttl_s: float = 3600.0,
    max_events_per_run: int = 10_000,
    keepalive_s: float = 15.0,
) -> Starlette:
    """Build an ASGI app that serves one agent (see the module docstring for the API).

    Args:
        planner_factory: ``def build(event_callback) -> ReactPlanner`` (or async); pass
            ``event_callback`` to the planner so the app can stream its events. Called
            once, on the first request; the planner is closed when the app shuts down.
        store: the session store, for listing pauses and resuming (default: the
            planner's ``state_store``).
        tenant_from_request: returns the tenant of a request, ``None`` for ``401``
            (default: the ``X-Tenant-ID`` header, see :func:`header_tenant`).
        tool_context_from_request: builds each run's ``tool_context`` from the request.
        max_runs: most runs kept in memory (finished ones are evicted first).
        run_ttl_s: how long a finished run's record stays readable.
        max_events_per_run: events kept per run for ``/events`` readers.
        keepalive_s: idle time after which an event stream sends a keep-alive comment.

    Returns:
        A Starlette application.

    Raises:
        ConfigError: a bad argument.
    """
    if not callable(planner_factory):
        raise ConfigError("create_agent_app(planner_factory=...) must be callable")
    for name, value in (("max_runs", max_runs), ("max_events_per_run", max_events_per_run)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"create_agent_app({name}=...) must be an int >= 1, got {value!r}")
    for name, seconds in (("run_ttl_s", run_ttl_s), ("keepalive_s", keepalive_s)):
        if not isinstance(seconds, int | float) or seconds <= 0:
            raise ConfigError(f"create_agent_app({name}=...) must be > 0, got {seconds!r}")
    service = _AgentService(
        planner_factory,
        store=store,
        tenant_from_request=tenant_from_request or header_tenant(),
        tool_context_from_request=tool_context_from_request,
        registry=RunRegistry(max_runs=max_runs, ttl_s=run_ttl_s, max_events=max_events_per_run),
        keepalive_s=float(keepalive_s),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        try:
            yield {}
        finally:
            await service.aclose()

    routes = [
        Route("/runs", _guard(service.start_run), methods=["POST"]),
        Route("/runs/{run_id}", _guard(service.get_run), methods=["GET"]),
        Route("/runs/{run_id}/events", _guard(service.run_events), methods=["GET"]),
        Route("/runs/{run_id}/cancel", _guard(service.cancel_run), methods=["POST"]),
        Route("/pauses", _guard(service.list_pauses), methods=["GET"]),
        Route("/resume", _guard(service.resume), methods=["POST"]),
        Route("/healthz", service.healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.agent = service
    return app
