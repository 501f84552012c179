"""``create_playground_app``: the browser playground of one agent, as an ASGI app.

The page (``/``, with its scripts under ``/static/``) and ``/health`` are open; every
``/api/`` call needs the access token, sent as ``Authorization: Bearer <token>``
(``401`` without it, ``403`` with a wrong one). The page reads the token once from its
URL (``/?token=...``), keeps it in the tab's ``sessionStorage`` and removes it from the
address bar. Requests whose ``Host`` is not the address the playground serves are
refused (a guard against DNS rebinding), unless remote access was allowed.

=======  ===============================  ================================================
GET      ``/api/info``                    the agent: name, model, tenant, tools, store
GET      ``/api/sessions``                the agent's conversations
GET      ``/api/runs``                    runs from the store (``?status=&session_id=``)
POST     ``/api/runs``                    start a run: ``{"query", "session_id"?}``
GET      ``/api/runs/{run_id}``           a run with its trajectory and model exchanges
GET      ``/api/runs/{id}/events``        Server-Sent Events of a live run or resume
POST     ``/api/runs/{id}/cancel``        cancel a live run or resume
GET      ``/api/pauses``                  pauses (``?status=pending``), with their calls
POST     ``/api/pauses/{id}/validate``    check edited arguments: ``{"call_id", "args"}``
POST     ``/api/pauses/{id}/decide``      approve, reject, edit or answer (exactly once)
GET      ``/api/tools``                   the tool catalog
GET      ``/api/flow``                    the runtime flow graph
POST     ``/api/ag-ui``                   the agent in the AG-UI protocol (see ``_agui``)
=======  ===============================  ================================================
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import ConfigError
from ...planner.agent import Agent
from ...tools._masking import SecretMasker
from .._runs import RunHandle, RunRegistry, jsonable, sse_stream
from ._catalog import flow_graph, tool_catalog
from ._history import build_trajectory, parse_statuses, run_summary
from ._project import served_agent
from ._service import DecisionRefused, Playground
from ._tap import ModelTap

__all__ = ["STATIC_DIR", "allowed_hosts", "create_playground_app"]

logger = logging.getLogger("penguiflow.server.playground")

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The page's HTML, CSS and JavaScript modules (shipped in the package)."""

_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class _StartRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(default=None, pattern=_ID)


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool | None = None
    approvals: dict[str, bool | str] | None = None
    reason: str | None = Field(default=None, max_length=2000)
    user_input: Any = None
    edited_args: dict[str, dict[str, Any]] | None = None
    token: str | None = Field(default=None, max_length=512)


class _Validate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(min_length=1, max_length=64)
    args: Any = None


class _TokenGate:
    """Refuses ``/api/`` requests without the access token (401) or with a wrong one (403)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            headers = dict(scope.get("headers") or ())
            given = headers.get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not value:
                response: Response = JSONResponse(
                    {
                        "detail": "the access token is missing: open the URL `penguiflow dev` printed"
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
            if not hmac.compare_digest(value.strip(), self._token):
                response = JSONResponse({"detail": "wrong access token"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _json(request_body: bytes, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(request_body or b"{}")
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise DecisionRefused(422, "invalid request body", errors=errors) from exc


Endpoint = Callable[[Request], Awaitable[Response]]


def _guard(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except DecisionRefused as exc:
            return JSONResponse(
                jsonable({"detail": exc.detail, **exc.extra}), status_code=exc.status_code
            )

    return guarded


class _Routes:
    """The endpoints, over the :class:`Playground` built when the app starts."""

    def __init__(self, masker: SecretMasker) -> None:
        self.masker = masker
        self.playground: Playground | None = None

    @property
    def pg(self) -> Playground:
        if self.playground is None:
            raise DecisionRefused(503, "the agent is still starting")
        return self.playground

    def handle(self, request: Request) -> RunHandle:
        handle = self.pg.runs.get(request.path_params["run_id"], self.pg.agent.tenant)
        if handle is None:
            raise DecisionRefused(404, "no such live run (it ended a while ago, or never was)")
        return handle

    async def info(self, request: Request) -> Response:
        agent = self.pg.agent
        return JSONResponse(
            {
                "name": agent.name,
                "model": agent.model,
                "tenant": agent.tenant,
                "user": agent.user,
                "tools": len(agent.catalog),
                "store": self.masker.text(str(getattr(agent.store, "url", ""))),
            }
        )

    async def sessions(self, request: Request) -> Response:
        agent = self.pg.agent
        found = await agent.store.list_sessions(tenant_id=agent.tenant, limit=200)
        return JSONResponse({"sessions": [jsonable(s) for s in found]})

    async def list_runs(self, request: Request) -> Response:
        agent, params = self.pg.agent, request.query_params
        try:
            statuses = parse_statuses(params.get("status"))
            limit = min(max(int(params.get("limit", "100")), 1), 500)
        except ValueError as exc:
            raise DecisionRefused(400, f"bad filter: {exc}") from exc
        found = await agent.store.list_runs(
            tenant_id=agent.tenant,
            session_id=params.get("session_id") or None,
            status=statuses,
            limit=limit,
        )
        return JSONResponse({"runs": self.masker([run_summary(record) for record in found])})

    async def start_run(self, request: Request) -> Response:
        body: _StartRun = _json(await request.body(), _StartRun)
        handle = self.pg.start_run(body.query, session_id=body.session_id)
        return JSONResponse(handle.record(), status_code=202)

    async def get_run(self, request: Request) -> Response:
        agent = self.pg.agent
        run_id = request.path_params["run_id"]
        try:
            record = await agent.store.get_run(run_id, tenant_id=agent.tenant)
        except LookupError as exc:
            raise DecisionRefused(404, f"no run {run_id!r} for this agent") from exc
        events = []
        if callable(getattr(agent.store, "load_history", None)):
            events = [
                (e.kind, e.ts, dict(e.payload)) for e in await agent.store.load_history(run_id)
            ]
        trajectory, exchanges, result = build_trajectory(record.state, events)
        detail = {
            "run": run_summary(record),
            "result": result,
            "trajectory": trajectory,
            "exchanges": exchanges,
        }
        return JSONResponse(self.masker(jsonable(detail)))

    async def run_events(self, request: Request) -> Response:
        handle = self.handle(request)
        try:
            after = int(request.query_params.get("after", "-1"))
        except ValueError as exc:
            raise DecisionRefused(400, "after must be an integer event id") from exc
        return StreamingResponse(
            sse_stream(handle, after=after, keepalive_s=self.pg.keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def cancel_run(self, request: Request) -> Response:
        handle = self.handle(request)
        await self.pg.cancel(handle)
        return JSONResponse(handle.record())

    async def pauses(self, request: Request) -> Response:
        pg = self.pg
        status = request.query_params.get("status") or None
        try:
            found = await pg.agent.store.list_pauses(
                tenant_id=pg.agent.tenant, status=status, limit=200
            )
        except ValueError as exc:
            raise DecisionRefused(400, f"bad status {status!r}: {exc}") from exc
        schemas = {spec.name: spec.args_schema for spec in pg.agent.catalog}
        listed = []
        for pause in found:
            item = jsonable(pause)
            item["token_held"] = pg.has_token(pause.pause_id)
            item["schemas"] = {
                c.get("tool"): schemas.get(str(c.get("tool"))) for c in pause.pending_calls
            }
            listed.append(item)
        return JSONResponse({"pauses": self.masker(listed)})

    async def validate(self, request: Request) -> Response:
        body: _Validate = _json(await request.body(), _Validate)
        pause = await self.pg.pause(request.path_params["pause_id"])
        errors = self.pg.edit_errors(pause, {body.call_id: body.args})
        return JSONResponse({"ok": not errors, "errors": errors.get(body.call_id, [])})

    async def decide(self, request: Request) -> Response:
        body: _Decision = _json(await request.body(), _Decision)
        decision = body.model_dump(exclude={"token"}, exclude_none=True)
        client = request.headers.get("x-playground-client", "")[:64] or "a playground tab"
        handle = await self.pg.decide(
            request.path_params["pause_id"], decision, token=body.token, client=client
        )
        status = 202 if not handle.done else 200
        return JSONResponse(handle.record(), status_code=status)

    async def tools(self, request: Request) -> Response:
        agent = self.pg.agent
        return JSONResponse(
            {"tools": jsonable(tool_catalog(agent.catalog, agent.tool_entries, self.masker))}
        )

    async def flow(self, request: Request) -> Response:
        return JSONResponse(jsonable(flow_graph(self.pg.agent.catalog)))

    async def ag_ui(self, request: Request) -> Response:
        try:
            from ._agui import serve_agui
        except ImportError as exc:  # pragma: no cover - the server extra brings ag-ui
            raise DecisionRefused(
                501, "the AG-UI stream needs `pip install 'penguiflow[server]'`"
            ) from exc
        return await serve_agui(self.pg, await request.body())


async def _page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def allowed_hosts(host: str, *, allow_remote: bool) -> list[str]:
    """The ``Host`` names the playground answers to."""
    if allow_remote:
        return ["*"]
    return sorted({*_LOOPBACK, host.strip("[]"), f"[{host.strip('[]')}]" if ":" in host else host})


def create_playground_app(
    agent: Agent,
    *,
    token: str,
    hosts: Sequence[str] = _LOOPBACK,
    keepalive_s: float = 15.0,
    max_runs: int = 500,
    run_ttl_s: float = 3600.0,
    environ: Mapping[str, str] | None = None,
) -> Starlette:
    """Build the playground app serving ``agent``.

    The app opens the agent when it starts (store, tool servers, planner) and closes it
    when it stops.

    Args:
        agent: the agent (opened and closed by the app).
        token: the access token every ``/api/`` call must carry (at least 16 characters).
        hosts: the ``Host`` names to answer (``["*"]`` for any).
        keepalive_s: idle time after which event streams send a keep-alive comment.
        max_runs: most live runs kept in memory.
        run_ttl_s: how long a finished live run stays readable in memory.
        environ: where secret-looking variables to mask are read (default: the process's).

    Raises:
        ConfigError: a short token or a bad number.
    """
    if not isinstance(token, str) or len(token) < 16:
        raise ConfigError("create_playground_app(token=...) must be a string of 16+ characters")
    if keepalive_s <= 0 or run_ttl_s <= 0 or max_runs < 1:
        raise ConfigError("keepalive_s and run_ttl_s must be > 0 and max_runs >= 1")
    masker = SecretMasker([token], environ=environ)
    routes = _Routes(masker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        await agent.start()
        served = served_agent(agent)
        playground = Playground(
            served,
            masker=masker,
            registry=RunRegistry(max_runs=max_runs, ttl_s=run_ttl_s, max_events=10_000),
            keepalive_s=keepalive_s,
        )
        tap = ModelTap(playground.record_exchange)
        tap.attach(served.planner.llm_client)
        agent.on_event = playground.on_event
        routes.playground = playground
        try:
            yield {}
        finally:
            routes.playground = None
            await playground.aclose()
            agent.on_event = None
            tap.detach()
            await agent.aclose()

    api: list[tuple[str, Endpoint, str]] = [
        ("/api/info", routes.info, "GET"),
        ("/api/sessions", routes.sessions, "GET"),
        ("/api/runs", routes.list_runs, "GET"),
        ("/api/runs", routes.start_run, "POST"),
        ("/api/runs/{run_id}", routes.get_run, "GET"),
        ("/api/runs/{run_id}/events", routes.run_events, "GET"),
        ("/api/runs/{run_id}/cancel", routes.cancel_run, "POST"),
        ("/api/pauses", routes.pauses, "GET"),
        ("/api/pauses/{pause_id}/validate", routes.validate, "POST"),
        ("/api/pauses/{pause_id}/decide", routes.decide, "POST"),
        ("/api/tools", routes.tools, "GET"),
        ("/api/flow", routes.flow, "GET"),
        ("/api/ag-ui", routes.ag_ui, "POST"),
    ]
    app = Starlette(
        routes=[
            Route("/", _page, methods=["GET"]),
            Route("/health", _health, methods=["GET"]),
            *(Route(path, _guard(ep), methods=[method]) for path, ep, method in api),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)),
            Middleware(_TokenGate, token=token),
        ],
        lifespan=lifespan,
    )
    return app
