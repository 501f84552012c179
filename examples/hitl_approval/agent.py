"""Human-in-the-loop approval, across two processes, offline.

    python examples/hitl_approval/agent.py run                  # pauses, prints the token
    python examples/hitl_approval/agent.py approve TOKEN        # runs the refund, answers
    python examples/hitl_approval/agent.py reject TOKEN --reason "too large"
    python examples/hitl_approval/agent.py edit TOKEN --cents 1500

The agent wants to refund an order. The ``refund`` tool is declared with
``requires_approval=True``, so the planner pauses *before* running it: the run's state
is committed to a SQLite file (``--db``, ``hitl_demo.sqlite3`` by default) and the
command prints a resume token and exits. A second command -- a new process, a new
planner -- claims the pause exactly once, runs (or skips) the refund and prints the
final answer. Resuming the same token again is refused.

The LLM is an offline ``FunctionLLM``: no network, no API key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import (
    FunctionLLM,
    PlannerEvent,
    PlannerFinish,
    PlannerPause,
    ReactPlanner,
    ToolContext,
)
from penguiflow.sessions import SqlSessionStore
from penguiflow.sessions.errors import PauseError


class RefundArgs(BaseModel):
    order_id: int = Field(description="The order to refund")
    cents: int = Field(gt=0, le=100_000, description="Amount in cents (at most 1000.00)")


class Refund(BaseModel):
    order_id: int
    cents: int
    reference: str


@tool(desc="Refund an order to the customer's card", side_effects="write", requires_approval=True)
async def refund(args: RefundArgs, ctx: ToolContext) -> Refund:
    # A real tool would call the payment API with ctx.idempotency_key, so a retried call
    # (after a crash) cannot pay twice.
    print(f"[refund tool] refunding {args.cents} cents on order {args.order_id}", file=sys.stderr)
    return Refund(order_id=args.order_id, cents=args.cents, reference=ctx.idempotency_key[:12])


def _decide(messages: list[dict[str, Any]], _format: Any) -> dict[str, Any]:
    """The offline model: ask for the refund, then report what happened."""
    last = str(messages[-1]["content"])
    if last.startswith("Observation"):
        result = json.loads(last.split("\n", 1)[1])
        answer = (
            f"Refunded {result['cents'] / 100:.2f} EUR on order {result['order_id']} "
            f"(reference {result['reference']})."
        )
        return {"next_node": "final_response", "args": {"answer": answer}}
    if last.startswith("Error"):
        why = last.split(": ", 1)[1]
        return {"next_node": "final_response", "args": {"answer": f"No refund was made: {why}"}}
    return {
        "thought": "the customer was charged twice; refund the duplicate",
        "next_node": "refund",
        "args": {"order_id": 1042, "cents": 2500},
    }


def build_planner(store: SqlSessionStore) -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("refund", RefundArgs, Refund)
    return ReactPlanner(
        llm_client=FunctionLLM(_decide),
        nodes=[Node(refund, name="refund")],
        registry=registry,
        state_store=store,
        pause_ttl_s=24 * 3600,
        event_callback=_show,
    )


def _show(event: PlannerEvent) -> None:
    if event.event_type in ("pause", "resume"):
        print(f"[event] {event.event_type}: {json.dumps(event.extra)}", file=sys.stderr)


def _print_result(result: PlannerFinish | PlannerPause) -> None:
    if isinstance(result, PlannerPause):
        print(f"paused: {result.reason}")
        for call in result.pending_calls:
            print(f"  {call.call_id}: {call.tool}({json.dumps(call.args)})")
        print(f"resume token: {result.resume_token}")
        return
    answer = result.payload.raw_answer if result.payload else ""
    print(f"answer: {answer}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="hitl_demo.sqlite3", help="SQLite file of the store")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the agent until it pauses")
    for name in ("approve", "reject", "edit"):
        command = commands.add_parser(name, help=f"{name} the paused refund")
        command.add_argument("token")
        if name == "reject":
            command.add_argument("--reason", default="not approved")
        if name == "edit":
            command.add_argument("--cents", type=int, required=True)
    args = parser.parse_args(argv)
    async with SqlSessionStore(f"sqlite+aiosqlite:///{args.db}") as store:
        async with build_planner(store) as planner:
            if args.command == "run":
                result = await planner.run("Order 1042 was charged twice. Please fix it.")
            else:
                decision: dict[str, Any] = {"approve": args.command != "reject"}
                if args.command == "reject":
                    decision["reason"] = args.reason
                if args.command == "edit":
                    decision["edited_args"] = {"order_id": 1042, "cents": args.cents}
                try:
                    result = await planner.resume(args.token, **decision)
                except PauseError as exc:
                    print(f"cannot resume: {exc}")
                    return 2
    _print_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
