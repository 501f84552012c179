"""Tools of the CLI test agent. They write marker files in the working directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field

from penguiflow import tool
from penguiflow.planner import ToolContext


class AddArgs(BaseModel):
    a: int
    b: int


class Sum(BaseModel):
    total: int


@tool(desc="Add two integers")
async def add(args: AddArgs, ctx: ToolContext) -> Sum:
    return Sum(total=args.a + args.b)


class SlowArgs(BaseModel):
    seconds: float


class Done(BaseModel):
    done: bool


@tool(desc="Wait a while")
async def slow(args: SlowArgs, ctx: ToolContext) -> Done:
    Path("slow-started.txt").write_text("started")  # noqa: ASYNC240 - a tiny marker file
    try:
        await asyncio.sleep(args.seconds)
    except asyncio.CancelledError:
        Path("slow-cancelled.txt").write_text("cancelled")  # noqa: ASYNC240
        raise
    return Done(done=True)


class TransferArgs(BaseModel):
    amount: int = Field(gt=0, le=1000)
    to: str


class Receipt(BaseModel):
    amount: int
    to: str


@tool(desc="Transfer money", side_effects="external", requires_approval=True)
async def transfer(args: TransferArgs, ctx: ToolContext) -> Receipt:
    with Path("transfers.log").open("a") as log:  # noqa: ASYNC230
        log.write(f"{args.amount} {args.to}\n")
    return Receipt(amount=args.amount, to=args.to)


class NoArgs(BaseModel):
    pass


class Color(BaseModel):
    color: str


@tool(desc="Ask the user for their favourite colour")
async def ask_color(args: NoArgs, ctx: ToolContext) -> Color:
    # Never returns: the human's answer (resume --input) becomes this call's result.
    await ctx.pause("await_input", {"question": "What is your favourite colour?"})
