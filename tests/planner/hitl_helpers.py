"""Tools, a side-effect ledger and planner builders for the pause/resume tests.

Also imported by ``_resume_worker.py`` (subprocesses), so it has no pytest imports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import ReactPlanner, ScriptedLLM, ToolContext

SECRET = "sk-test-SECRET-0123456789"
MODE_VARIABLE = "PENGUIFLOW_TEST_TOOL_MODE"
"""The ``tool_mode`` of the planners built here (set by the ``planner_mode`` fixture)."""


def current_mode() -> Any:
    """The ``tool_mode`` the test runs in (``json`` unless the fixture set another)."""
    return os.environ.get(MODE_VARIABLE, "json")


def act(next_node: str, args: dict[str, Any] | None = None, thought: str = "t") -> str:
    return json.dumps({"thought": thought, "next_node": next_node, "args": args or {}})


def final(answer: str = "done") -> str:
    return act("final_response", {"answer": answer})


def parallel(steps: list[tuple[str, dict[str, Any]]], join: dict[str, Any] | None = None) -> str:
    args: dict[str, Any] = {"steps": [{"node": n, "args": a} for n, a in steps]}
    if join is not None:
        args["join"] = join
    return act("parallel", args)


class Ledger:
    """Records side effects by appending lines to a file (works across processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def count(self, tool_name: str | None = None) -> int:
        return sum(1 for e in self.entries() if tool_name is None or e["tool"] == tool_name)


def _ledger(ctx: ToolContext) -> Ledger:
    return Ledger(ctx.tool_context["ledger"])


class RefundArgs(BaseModel):
    order_id: int
    cents: int = Field(gt=0, le=100_000)


class Refunded(BaseModel):
    order_id: int
    refunded: int
    key: str


class NoteArgs(BaseModel):
    text: str
    urgent: bool = False


class Noted(BaseModel):
    text: str


class CityArgs(BaseModel):
    city: str


class Weather(BaseModel):
    city: str
    celsius: float


class Reports(BaseModel):
    reports: list[Any] = Field(default_factory=list)


class Summary(BaseModel):
    count: int


@tool(desc="Refund an order", side_effects="write", requires_approval=True)
async def refund(args: RefundArgs, ctx: ToolContext) -> Refunded:
    _ledger(ctx).record({"tool": "refund", "args": args.model_dump(), "key": ctx.idempotency_key})
    return Refunded(order_id=args.order_id, refunded=args.cents, key=ctx.idempotency_key)


@tool(
    desc="Send a note; urgent notes need approval",
    side_effects="external",
    requires_approval=lambda args: args.urgent,
)
async def notify(args: NoteArgs, ctx: ToolContext) -> Noted:
    _ledger(ctx).record({"tool": "notify", "args": args.model_dump()})
    return Noted(text=args.text)


@tool(desc="Current weather of a city", side_effects="read")
async def weather(args: CityArgs, ctx: ToolContext) -> Weather:
    _ledger(ctx).record({"tool": "weather", "args": args.model_dump()})
    return Weather(city=args.city, celsius=20.0)


@tool(desc="Ask the user which city they mean", side_effects="pure")
async def ask_city(args: CityArgs, ctx: ToolContext) -> Weather:
    _ledger(ctx).record({"tool": "ask_city", "args": args.model_dump()})
    await ctx.pause("await_input", {"question": f"Which {args.city} do you mean?"})
    raise AssertionError("ctx.pause returned")


@tool(desc="A tool that tries to swallow the pause", side_effects="pure")
async def swallow(args: CityArgs, ctx: ToolContext) -> Weather:
    try:
        await ctx.pause("await_input", {"question": "confirm?"})
    except Exception:  # must not catch the pause signal
        _ledger(ctx).record({"tool": "swallow", "swallowed": True})
        return Weather(city="swallowed", celsius=0.0)
    raise AssertionError("unreachable")


@tool(desc="Summarise weather reports")
async def summarise(args: Reports, ctx: ToolContext) -> Summary:
    _ledger(ctx).record({"tool": "summarise", "count": len(args.reports)})
    return Summary(count=len(args.reports))


@tool(desc="Summarise weather reports, after approval", requires_approval=True)
async def approved_summary(args: Reports, ctx: ToolContext) -> Summary:
    _ledger(ctx).record({"tool": "approved_summary", "count": len(args.reports)})
    return Summary(count=len(args.reports))


TOOLS: list[tuple[Any, type[BaseModel], type[BaseModel]]] = [
    (refund, RefundArgs, Refunded),
    (notify, NoteArgs, Noted),
    (weather, CityArgs, Weather),
    (ask_city, CityArgs, Weather),
    (swallow, CityArgs, Weather),
    (summarise, Reports, Summary),
    (approved_summary, Reports, Summary),
]


def hitl_catalog(exclude: tuple[str, ...] = ()) -> tuple[list[Node], ModelRegistry]:
    registry = ModelRegistry()
    nodes = []
    for func, args_model, out_model in TOOLS:
        name = func.__name__
        if name in exclude:
            continue
        registry.register(name, args_model, out_model)
        nodes.append(Node(func, name=name))
    return nodes, registry


def build_planner(store: Any, replies: list[Any], **kwargs: Any) -> ReactPlanner:
    """A planner over the HITL tools with a scripted LLM."""
    nodes, registry = hitl_catalog(kwargs.pop("exclude", ()))
    llm = kwargs.pop("llm_client", None) or ScriptedLLM(replies)
    kwargs.setdefault("tool_mode", current_mode())
    return ReactPlanner(llm_client=llm, nodes=nodes, registry=registry, state_store=store, **kwargs)


REFUND_ACTION = act("refund", {"order_id": 42, "cents": 500})


async def dump_database(url: str) -> str:
    """Every row of every PenguiFlow table, as text (to check what the store holds)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    tables = ("sessions", "runs", "pauses", "tool_journal", "memory", "events")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = []
            for name in tables:
                result = await conn.execute(text(f"SELECT * FROM penguiflow_{name}"))
                rows.extend(repr(tuple(row)) for row in result.all())
    finally:
        await engine.dispose()
    return "\n".join(rows)


async def run_sql(url: str, *statements: str, **params: Any) -> None:
    """Run raw SQL outside the store (to damage rows or make writes fail)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


class FakeClock:
    """A controllable UNIX clock for expiry and lease tests."""

    def __init__(self, start: float | None = None) -> None:
        import time

        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
