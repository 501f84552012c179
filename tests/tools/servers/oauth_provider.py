"""A tiny OAuth 2 provider (authorisation code + PKCE + refresh) with a protected API.

``/authorize?...&login=<user>`` plays the user logging in and consenting: it redirects to
``redirect_uri`` with a code. ``/api/me`` answers with the user a bearer token belongs to.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "pf-client"
CLIENT_SECRET = "pf-client-secret-0123456789"
REDIRECT_URI = "https://app.example/oauth/callback"


class ProviderState:
    def __init__(self) -> None:
        self.codes: dict[str, dict] = {}
        self.access: dict[str, str] = {}  # token -> user
        self.refresh: dict[str, str] = {}  # refresh token -> user
        self.ttl = 3600
        self.grants: list[tuple[str, str]] = []  # (grant_type, user)
        self.api_calls: list[tuple[str, str]] = []  # (user, authorization header)
        self.seq = itertools.count(1)


def build_app() -> tuple[Starlette, ProviderState]:
    state = ProviderState()

    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != REDIRECT_URI:
            return JSONResponse({"error": "bad client"}, 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "PKCE required"}, 400)
        code = secrets.token_urlsafe(16)
        state.codes[code] = {"user": q["login"], "challenge": q["code_challenge"]}
        return RedirectResponse(
            f"{REDIRECT_URI}?{urlencode({'code': code, 'state': q['state']})}", 302
        )

    def issue(user: str, grant: str) -> dict:
        n = next(state.seq)
        access, refresh = (
            f"at-{user}-{n}-{secrets.token_hex(8)}",
            f"rt-{user}-{n}-{secrets.token_hex(8)}",
        )
        state.access[access] = user
        state.refresh[refresh] = user
        state.grants.append((grant, user))
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": state.ttl,
        }

    async def token(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return JSONResponse({"error": "invalid_client"}, 401)
        if base64.b64decode(auth[6:]).decode() != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return JSONResponse({"error": "invalid_client"}, 401)
        form = await request.form()
        grant = form.get("grant_type")
        if grant == "authorization_code":
            entry = state.codes.pop(str(form.get("code")), None)
            if entry is None or form.get("redirect_uri") != REDIRECT_URI:
                return JSONResponse({"error": "invalid_grant"}, 400)
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).decode().rstrip("=") != entry["challenge"]:
                return JSONResponse({"error": "invalid_grant", "detail": "PKCE"}, 400)
            return JSONResponse(issue(entry["user"], "authorization_code"))
        if grant == "refresh_token":
            user = state.refresh.pop(str(form.get("refresh_token")), None)
            if user is None:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return JSONResponse(issue(user, "refresh_token"))
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    async def me(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        user = state.access.get(header.removeprefix("Bearer "))
        if user is None:
            return JSONResponse({"error": "invalid_token", "got": header}, 401)
        state.api_calls.append((user, header))
        return JSONResponse({"user": user, "item": request.query_params.get("item")})

    routes = [
        Route("/authorize", authorize),
        Route("/token", token, methods=["POST"]),
        Route("/api/me", me),
    ]
    return Starlette(routes=routes), state
