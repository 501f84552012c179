"""The demo agent's Python tool and its offline, deterministic LLM client.

The client plays the part of a model for one kind of request ("order X arrived damaged,
can I get my money back?"): it looks the order up with the MCP tool, checks the refund
policy with the Python tool, asks to issue the refund (a tool that needs approval), and
answers from what the tools returned. It reads only the messages it is sent, so the
process that resumes the run after the approval needs no state from the first one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from ..catalog import NodeSpec, tool
from ..planner._executor import ToolContext
from ..planner.testing import FunctionLLM

__all__ = ["PolicyArgs", "PolicyDecision", "demo_llm", "refund_policy"]

RETURN_WINDOW_DAYS = 30
_ORDER_ID = re.compile(r"\b([A-Z]-\d{3,})\b")
_STEP = re.compile(r"^(Observation|Error) \(step \d+, ([^)]+)\)")


class PolicyArgs(BaseModel):
    """What the refund policy needs to know about an order."""

    item: str
    amount: float = Field(ge=0)
    days_since_delivery: int = Field(ge=0)
    damaged: bool


class PolicyDecision(BaseModel):
    """The policy's verdict."""

    eligible: bool
    refund: float
    rule: str


@tool(desc="Apply the shop's refund policy to an order; says whether and how much to refund")
async def refund_policy(args: PolicyArgs, ctx: ToolContext) -> PolicyDecision:
    """Full refund for damaged items, or within the return window; nothing otherwise."""
    if args.damaged:
        return PolicyDecision(eligible=True, refund=args.amount, rule="damaged on arrival")
    if args.days_since_delivery <= RETURN_WINDOW_DAYS:
        return PolicyDecision(
            eligible=True, refund=args.amount, rule=f"within {RETURN_WINDOW_DAYS} days"
        )
    return PolicyDecision(
        eligible=False, refund=0.0, rule=f"more than {RETURN_WINDOW_DAYS} days, not damaged"
    )


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _find(value: Any, key: str) -> dict[str, Any] | None:
    """The first dict inside ``value`` (a tool observation) that has ``key``."""
    if isinstance(value, dict):
        if key in value:
            return value
        for inner in value.values():
            found = _find(inner, key)
            if found is not None:
                return found
    if isinstance(value, list):
        for inner in value:
            found = _find(inner, key)
            if found is not None:
                return found
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return _find(json.loads(value), key)
        except json.JSONDecodeError:
            return None
    return None


def _observations(messages: Sequence[dict[str, Any]]) -> dict[str, tuple[bool, Any]]:
    """Tool name -> (ok, observation) for the steps shown in ``messages``."""
    seen: dict[str, tuple[bool, Any]] = {}
    for message in messages:
        if message.get("role") != "user":
            continue
        text = _text(message)
        match = _STEP.match(text)
        if match is None:
            continue
        body = text.partition("\n")[2]
        try:
            value: Any = json.loads(body) if body else None
        except json.JSONDecodeError:
            value = body
        ok = match.group(1) == "Observation" and "reject" not in text.lower()
        seen[match.group(2)] = (ok, value if ok else text)
    return seen


def _query(messages: Sequence[dict[str, Any]]) -> str:
    for message in messages:
        text = _text(message)
        if message.get("role") == "user" and text.startswith("Query:"):
            return text.removeprefix("Query:").split("\n\n")[0].strip()
    return ""


def _action(node: str, args: dict[str, Any], thought: str) -> dict[str, Any]:
    return {"thought": thought, "next_node": node, "args": args}


def _final(answer: str, sources: list[str]) -> dict[str, Any]:
    return _action("final_response", {"answer": answer, "sources": sources}, "Answer.")


def _decide(messages: list[dict[str, Any]], _format: dict[str, Any] | None) -> dict[str, Any]:
    seen = _observations(messages)
    match = _ORDER_ID.search(_query(messages).upper())
    if match is None:
        return _final("Which order is it? Give me an order id such as A-1002.", [])
    order_id = match.group(1)
    if "shop.get_order" not in seen:
        return _action("shop.get_order", {"order_id": order_id}, "Look the order up first.")
    ok, observation = seen["shop.get_order"]
    order = _find(observation, "item") if ok else None
    if order is None:
        return _final(f"I could not find order {order_id}: {observation}", ["shop.get_order"])
    if "refund_policy" not in seen:
        args = {k: order[k] for k in ("item", "amount", "days_since_delivery", "damaged")}
        return _action("refund_policy", args, "Check the refund policy for this order.")
    decision = _find(seen["refund_policy"][1], "eligible") or {}
    if not decision.get("eligible"):
        rule = decision.get("rule", "the policy")
        return _final(f"Order {order_id} cannot be refunded ({rule}).", ["refund_policy"])
    amount = float(decision.get("refund", order["amount"]))
    if "shop.issue_refund" not in seen:
        args = {"order_id": order_id, "amount": amount, "reason": str(decision.get("rule"))}
        return _action("shop.issue_refund", args, "Eligible: issue the refund (needs approval).")
    ok, observation = seen["shop.issue_refund"]
    sources = ["shop.get_order", "refund_policy", "shop.issue_refund"]
    if not ok:
        return _final(
            f"The refund of {amount:.2f} EUR for order {order_id} was not issued: a reviewer "
            "declined it. Your case stays open with our support team.",
            sources,
        )
    refund = _find(observation, "refund_id") or {}
    return _final(
        f"Done: refund {refund.get('refund_id', '?')} of {amount:.2f} EUR for the "
        f"{order['item']} of order {order_id} ({decision.get('rule')}). It reaches your "
        "account in 3-5 days.",
        sources,
    )


def demo_llm(catalog: Sequence[NodeSpec] | None = None) -> FunctionLLM:
    """The demo's offline LLM client (deterministic; reads only the messages it gets)."""
    return FunctionLLM(_decide)
