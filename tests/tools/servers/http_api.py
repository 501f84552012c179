"""A small starlette API for the HTTP tool tests (run in a thread by the fixtures)."""

from __future__ import annotations

import itertools
from collections import Counter

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

    def authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth == f"Bearer {TOKEN}" or auth.removeprefix("Bearer ") in self.valid_tokens

    async def get_item(self, request: Request) -> Response:
        if not self.authorised(request):
            return JSONResponse(
                {"error": "unauthorised", "got": request.headers.get("authorization")}, 401
            )
        return JSONResponse(
            {"id": request.path_params["item_id"], "q": request.query_params.get("q")}
        )

    async def flaky(self, request: Request) -> Response:
        key = request.query_params["key"]
        self.hits[key] += 1
        if self.hits[key] == 1:
            return PlainTextResponse("slow down", 429, headers={"Retry-After": "1"})
        return JSONResponse({"ok": True, "hits": self.hits[key]})

    async def broken(self, request: Request) -> Response:
        key = request.query_params["key"]
        self.hits[key] += 1
        return PlainTextResponse(f"kaput, echoing {request.headers.get('x-api-key')}", 500)

    async def orders(self, request: Request) -> Response:
        key = request.query_params.get("key", "orders")
        self.hits[key] += 1
        body = await request.json()
        if "sku" not in body:
            return JSONResponse({"error": "sku missing"}, 400)
        return JSONResponse({"order": next(self.seq), **body}, 201)

    async def echo_headers(self, request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params)})

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse("http://example.invalid/elsewhere", 302)

    async def big(self, request: Request) -> Response:
        return PlainTextResponse("x" * int(request.query_params.get("n", "5000")))

    async def binary(self, request: Request) -> Response:
        return Response(
            b"\x00\x01" * int(request.query_params.get("n", "10")),
            media_type="application/octet-stream",
        )

    async def sleep(self, request: Request) -> Response:
        import asyncio

        await asyncio.sleep(float(request.query_params.get("s", "5")))
        return PlainTextResponse("woke")

    async def token(self, request: Request) -> Response:
        form = await request.form()
        auth = request.headers.get("authorization", "")
        if form.get("grant_type") != "client_credentials" or not auth.startswith("Basic "):
            return JSONResponse({"error": "invalid_request"}, 400)
        import base64

        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if (user, password) != ("client-1", "client-secret-xyz"):
            return JSONResponse({"error": "invalid_client"}, 401)
        self.tokens_issued += 1
        value = f"oauth-token-{self.tokens_issued}"
        self.valid_tokens = {value}
        return JSONResponse(
            {"access_token": value, "token_type": "Bearer", "expires_in": self.token_ttl}
        )


def build_app() -> tuple[Starlette, State]:
    state = State()
    routes = [
        Route("/items/{item_id}", state.get_item),
        Route("/flaky", state.flaky),
        Route("/broken", state.broken),
        Route("/orders", state.orders, methods=["POST"]),
        Route("/echo-headers", state.echo_headers),
        Route("/redirect", state.redirect),
        Route("/big", state.big),
        Route("/binary", state.binary),
        Route("/token", state.token, methods=["POST"]),
        Route("/sleep", state.sleep),
    ]
    return Starlette(routes=routes), state
