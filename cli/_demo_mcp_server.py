"""The demo's MCP server: a tiny shop with orders and refunds, served over stdio.

``penguiflow demo`` starts it as a subprocess (``python _demo_mcp_server.py``); it is a
separate program, never imported by PenguiFlow. Refunds are appended to the JSON-lines
file named by ``PENGUIFLOW_DEMO_LEDGER``, so the demo can show that an approved refund
ran exactly once.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("shop", log_level="WARNING")

ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {"item": "teapot", "amount": 24.5, "days_since_delivery": 40, "damaged": False},
    "A-1002": {"item": "kettle", "amount": 49.9, "days_since_delivery": 3, "damaged": True},
    "A-1003": {"item": "mug set", "amount": 18.0, "days_since_delivery": 12, "damaged": False},
}


@server.tool(
    description="Look up an order by id: item, amount paid (EUR), days since delivery, and "
    "whether the customer reported it damaged.",
    annotations=ToolAnnotations(read_only_hint=True),
)
def get_order(order_id: str) -> dict[str, Any]:
    """Return one order."""
    order = ORDERS.get(order_id.strip().upper())
    if order is None:
        raise ToolError(f"no order {order_id!r}; known orders: {', '.join(sorted(ORDERS))}")
    return {"order_id": order_id.strip().upper(), **order}


@server.tool(description="Refund an amount (EUR) to the customer of an order. Moves money.")
def issue_refund(order_id: str, amount: float, reason: str) -> dict[str, Any]:
    """Record a refund in the ledger and return its id."""
    if order_id not in ORDERS:
        raise ToolError(f"no order {order_id!r}")
    if amount <= 0 or amount > ORDERS[order_id]["amount"]:
        raise ToolError(f"amount {amount} must be > 0 and at most the amount paid")
    refund = {
        "refund_id": f"R-{uuid.uuid4().hex[:6].upper()}",
        "order_id": order_id,
        "amount": amount,
        "reason": reason,
    }
    ledger = os.environ.get("PENGUIFLOW_DEMO_LEDGER")
    if ledger:
        with Path(ledger).open("a", encoding="utf-8") as file:
            file.write(json.dumps(refund) + "\n")
    return refund


if __name__ == "__main__":
    anyio.run(server.run_stdio_async)
