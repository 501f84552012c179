"""Tools and stub clients written the way the documented PenguiFlow planner examples are."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.catalog import build_catalog
from penguiflow.planner import ReactPlanner, ScriptedLLM


class Question(BaseModel):
    question: str


class Answer(BaseModel):
    answer: str


class Invoice(BaseModel):
    invoice_id: str


class Refund(BaseModel):
    refunded: str


@tool(desc="Search the public documentation", tags=["docs", "public"])
async def search_docs(args: Question, ctx: Any) -> Answer:
    return Answer(answer=f"docs say: {args.question}")


@tool(desc="Look up a customer's invoices", tags=["billing"])
async def lookup_invoice(args: Invoice, ctx: Any) -> Answer:
    return Answer(answer=f"invoice {args.invoice_id} is paid")


@tool(desc="Refund an invoice", side_effects="write", tags=["billing", "admin"])
async def refund_invoice(args: Invoice, ctx: Any) -> Refund:
    return Refund(refunded=args.invoice_id)


@tool(desc="Ask the user a question", tags=["public"])
async def ask_user(args: Question, ctx: Any) -> Answer:
    await ctx.pause("await_input", {"question": args.question})
    raise AssertionError("unreachable: ctx.pause() never returns")


def build_tools(*, ask: bool = False) -> list[Any]:
    """The catalog of the examples: one public tool, two billing tools (and ``ask_user``)."""
    registry = ModelRegistry()
    registry.register("search_docs", Question, Answer)
    registry.register("lookup_invoice", Invoice, Answer)
    registry.register("refund_invoice", Invoice, Refund)
    nodes = [
        Node(search_docs, name="search_docs"),
        Node(lookup_invoice, name="lookup_invoice"),
        Node(refund_invoice, name="refund_invoice"),
    ]
    if ask:
        registry.register("ask_user", Question, Answer)
        nodes.append(Node(ask_user, name="ask_user"))
    return build_catalog(nodes, registry)


def action(next_node: str | None, args: Mapping[str, Any] | None = None, **rest: Any) -> str:
    """One JSON action as a model writes it."""
    return json.dumps({"thought": "next", "next_node": next_node, "args": args, **rest})


def finish(answer: str) -> str:
    """The documented older finish: ``next_node: null`` with ``args.raw_answer``."""
    return action(None, {"raw_answer": answer})


class StubClient:
    """The documented minimal client: ``complete(*, messages, response_format=None)``.

    Replies are returned in order, each as a string or as a ``(text, cost)`` pair.
    """

    def __init__(self, replies: Sequence[Any]) -> None:
        self.replies = list(replies)
        self.calls: list[list[Mapping[str, Any]]] = []

    async def complete(
        self,
        *,
        messages: Sequence[Mapping[str, Any]],
        response_format: Mapping[str, Any] | None = None,
    ) -> Any:
        self.calls.append(list(messages))
        if not self.replies:
            raise AssertionError("the stub client has no reply left")
        return self.replies.pop(0)


def planner(replies: Sequence[Any], tool_mode: str, **options: Any) -> ReactPlanner:
    """A planner over the example tools, speaking ``tool_mode`` to a scripted model."""
    options.setdefault("catalog", build_tools())
    return ReactPlanner(llm_client=ScriptedLLM(list(replies)), tool_mode=tool_mode, **options)
