"""A small starlette API for the HTTP tool tests (run in a thread by the fixtures)."""

from __future__ import annotations

import base64
import itertools
import json
from collections import Counter
from urllib.parse import quote, quote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

TOKEN = "s3cr3t-bearer-token-value"


class State:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.tokens_issued = 0
        self.token_ttl = 3600
        self.valid_tokens: set[str] = set()
        self.seq = itertools.count(1)


def build_app() -> tuple[Starlette, State]:
    state = State()

    def authorised(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth == f"Bearer {TOKEN}" or auth.removeprefix("Bearer ") in state.valid_tokens

    async def get_item(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse(
                {"error": "unauthorised", "got": request.headers.get("authorization")}, 401
            )
        return JSONResponse(
            {"id": request.path_params["item_id"], "q": request.query_params.get("q")}
        )

    async def flaky(request: Request) -> Response:
        key = request.query_params["key"]
        state.hits[key] += 1
        if state.hits[key] == 1:
            return PlainTextResponse("slow down", 429, headers={"Retry-After": "1"})
        return JSONResponse({"ok": True, "hits": state.hits[key]})

    async def broken(request: Request) -> Response:
        key = request.query_params["key"]
        state.hits[key] += 1
        return PlainTextResponse(f"kaput, echoing {request.headers.get('x-api-key')}", 500)

    async def orders(request: Request) -> Response:
        key = request.query_params.get("key", "orders")
        state.hits[key] += 1
        body = await request.json()
        if "sku" not in body:
            return JSONResponse({"error": "sku missing"}, 400)
        return JSONResponse({"order": next(state.seq), **body}, 201)

    async def echo_headers(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params)})

    async def redirect(request: Request) -> Response:
        return RedirectResponse("http://example.invalid/elsewhere", 302)

    async def big(request: Request) -> Response:
        return PlainTextResponse("x" * int(request.query_params.get("n", "5000")))

    async def binary(request: Request) -> Response:
        return Response(
            b"\x00\x01" * int(request.query_params.get("n", "10")),
            media_type="application/octet-stream",
        )

    async def sleep(request: Request) -> Response:
        import asyncio

        await asyncio.sleep(float(request.query_params.get("s", "5")))
        return PlainTextResponse("woke")

    async def token(request: Request) -> Response:
        form = await request.form()
        auth = request.headers.get("authorization", "")
        if form.get("grant_type") != "client_credentials" or not auth.startswith("Basic "):
            return JSONResponse({"error": "invalid_request"}, 400)

        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if (user, password) != ("client-1", "client-secret-xyz"):
            return JSONResponse({"error": "invalid_client"}, 401)
        state.tokens_issued += 1
        value = f"oauth-token-{state.tokens_issued}"
        state.valid_tokens = {value}
        return JSONResponse(
            {"access_token": value, "token_type": "Bearer", "expires_in": state.token_ttl}
        )

    def credential(request: Request) -> str:
        """The credential the request carried: the API key, in a header or the query."""
        name = request.query_params.get("from", "x-api-key")
        return request.headers.get(name) or request.query_params.get(name) or ""

    async def echo_url(request: Request) -> Response:
        status = int(request.query_params.get("status", "200"))
        return PlainTextResponse(f"you asked for {request.url}", status)

    async def json_error(request: Request) -> Response:
        # A JSON error body served as text: the credential appears JSON-escaped.
        body = json.dumps({"error": "bad key", "got": credential(request)})
        return PlainTextResponse(body, 400)

    async def long_error(request: Request) -> Response:
        pad = int(request.query_params.get("pad", "490"))
        return PlainTextResponse("x" * pad + credential(request) + " end", 500)

    async def echo_encoded(request: Request) -> Response:
        key = credential(request)
        raw = key.encode()
        lines = [
            quote(key, safe=""),
            quote_plus(key),
            json.dumps({"key": key}),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            "Basic " + base64.b64encode(b"someone:" + raw).decode(),
        ]
        return PlainTextResponse("\n".join(lines))

    routes = [
        Route("/echo-url", echo_url),
        Route("/json-error", json_error),
        Route("/long-error", long_error),
        Route("/echo-encoded", echo_encoded),
        Route("/items/{item_id}", get_item),
        Route("/flaky", flaky),
        Route("/broken", broken),
        Route("/orders", orders, methods=["POST"]),
        Route("/echo-headers", echo_headers),
        Route("/redirect", redirect),
        Route("/big", big),
        Route("/binary", binary),
        Route("/token", token, methods=["POST"]),
        Route("/sleep", sleep),
    ]
    return Starlette(routes=routes), state
