"""An agent served over HTTP, with human approval of refunds.

    python examples/fastapi_service/app.py --port 8000            # SQLite file in ./
    PENGUIFLOW_DB=postgresql+asyncpg://... python examples/fastapi_service/app.py

    curl -s localhost:8000/agent/runs -H 'X-Tenant-ID: acme' \\
         -d '{"query": "Refund order 7", "wait": true}'          # -> paused, resume_token
    curl -s localhost:8000/agent/pauses -H 'X-Tenant-ID: acme'   # what waits for a human
    curl -s localhost:8000/agent/resume -H 'X-Tenant-ID: acme' \\
         -d '{"token": "<resume_token>", "approve": true, "wait": true}'

The agent app (``create_agent_app``) is an ASGI app mounted under ``/agent`` of your own
application; with FastAPI it is the same call, ``fastapi_app.mount("/agent", agent)``.
This example uses Starlette so it needs nothing beyond PenguiFlow. Several processes
(or machines) can serve it on one PostgreSQL database: a pause created by one is resumed
by any other. The tenant comes from the ``X-Tenant-ID`` header here; in production, take
it from your authentication (``tenant_from_request=``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from penguiflow import ModelRegistry, Node, NodePolicy, tool
from penguiflow.planner import FunctionLLM, ReactPlanner, ToolContext
from penguiflow.server import create_agent_app
from penguiflow.sessions import SqlSessionStore

ORDERS = {7: 42.5, 8: 19.0, 9: 250.0}


class OrderArgs(BaseModel):
    order: int = Field(ge=1, description="Order number")


class Order(BaseModel):
    order: int
    amount: float


class RefundArgs(BaseModel):
    order: int = Field(ge=1)
    amount: float = Field(gt=0)


class Refund(BaseModel):
    order: int
    refunded: float


@tool(desc="Look an order up", side_effects="read")
async def lookup_order(args: OrderArgs, ctx: ToolContext) -> Order:
    return Order(order=args.order, amount=ORDERS.get(args.order, 10.0))


@tool(desc="Refund an order (a human approves first)", side_effects="write", requires_approval=True)
async def refund_order(args: RefundArgs, ctx: ToolContext) -> Refund:
    return Refund(order=args.order, refunded=args.amount)


def _parse(observation: str) -> dict[str, Any]:
    body = observation.split("\n", 1)[-1]
    try:
        value = json.loads(body)
    except ValueError:
        return {"text": body}
    return value if isinstance(value, dict) else {"value": value}


def scripted_reply(messages: list[dict[str, Any]], _format: Any) -> dict[str, Any]:
    """An offline model: look the order up, refund it, then answer."""
    observations = [
        _parse(m["content"])
        for m in messages
        if m["role"] == "user" and m["content"].startswith("Observation")
    ]
    if any("rejected by the reviewer" in str(m["content"]) for m in messages[2:]):
        return {"next_node": "final_response", "args": {"answer": "The refund was not approved."}}
    if not observations:
        digits = "".join(c for c in messages[1]["content"] if c.isdigit()) or "7"
        return {"next_node": "lookup_order", "args": {"order": int(digits)}}
    last = observations[-1]
    if "amount" in last:
        return {
            "next_node": "refund_order",
            "args": {"order": last["order"], "amount": last["amount"]},
        }
    answer = f"Refunded {last.get('refunded', 0):g} for order {last.get('order')}."
    return {"next_node": "final_response", "args": {"answer": answer}}


def build_app(db_url: str) -> Starlette:
    store = SqlSessionStore(db_url)  # opened on the first request, in the server's loop

    async def build_planner(event_callback: Any) -> ReactPlanner:
        await store.setup()
        registry = ModelRegistry()
        registry.register("lookup_order", OrderArgs, Order)
        registry.register("refund_order", RefundArgs, Refund)
        nodes = [
            Node(lookup_order, name="lookup_order", policy=NodePolicy(timeout_s=10)),
            Node(refund_order, name="refund_order", policy=NodePolicy(timeout_s=10)),
        ]
        model = os.environ.get("PENGUIFLOW_MODEL")
        client: dict[str, Any] = (
            {"llm": model} if model else {"llm_client": FunctionLLM(scripted_reply)}
        )
        return ReactPlanner(
            **client,
            nodes=nodes,
            registry=registry,
            state_store=store,
            event_callback=event_callback,
        )

    agent = create_agent_app(build_planner, store=store)

    async def index(request: Request) -> JSONResponse:
        return JSONResponse({"service": "refunds", "agent": "/agent"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A mounted app's own lifespan does not run: enter it here, so the planner is
        # closed at shutdown, then close the store.
        async with agent.router.lifespan_context(agent):
            yield
        await store.close()

    return Starlette(
        routes=[Route("/", index), Mount("/agent", app=agent)],
        lifespan=lifespan,
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    db_url = os.environ.get("PENGUIFLOW_DB", "sqlite+aiosqlite:///refunds.sqlite3")
    uvicorn.run(build_app(db_url), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
