"""Tool calls through the planner's runtime flow."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from planner_helpers import (
    Found,
    PlannerFactory,
    Query,
    RoutingLLM,
    act,
    final,
    json_only,
    registry_for,
)

from penguiflow import Message, Node, NodePolicy, tool
from penguiflow.planner._executor import ToolContext


async def test_tool_timeout_is_an_observation_and_the_run_goes_on(
    make_planner: PlannerFactory,
) -> None:
    events: list[Any] = []
    planner, llm = make_planner(
        [act("hang", {"text": "x"}), final("gave up on hang")],
        hang_policy=NodePolicy(timeout_s=0.05),
        event_callback=events.append,
    )
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    assert step["kind"] == "tool" and step["observation"] is None
    assert "timed out" in step["error"]
    assert "timed out" in llm.requests[-1].last_message
    errors = [e for e in events if e.event_type == "tool_call_error"]
    assert errors and errors[0].extra["code"] == "node_timeout"


async def test_tool_exception_is_an_observation(make_planner: PlannerFactory) -> None:
    planner, llm = make_planner([act("broken", {"text": "x"}), final()])
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert "RuntimeError: boom on x" in result.metadata["steps"][0]["error"]
    assert "boom on x" in llm.requests[-1].last_message
    assert result.metadata["errors"]


async def test_node_policy_retries_apply(make_planner: PlannerFactory) -> None:
    attempts: list[int] = []

    @tool(desc="Fails once")
    async def flaky(args: Query, ctx: Any) -> Found:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("transient")
        return Found(value="second time")

    nodes = [Node(flaky, name="flaky", policy=NodePolicy(max_retries=2, backoff_base=0))]
    planner, _ = make_planner(
        [act("flaky", {"text": "x"}), final()],
        nodes=nodes,
        registry=registry_for(("flaky", Query, Found)),
    )
    result = await planner.run("q")
    assert result.metadata["steps"][0]["observation"] == {"value": "second time"}
    assert len(attempts) == 2


async def test_deadline_mid_tool_cancels_the_call(make_planner: PlannerFactory) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @tool(desc="Slow")
    async def slow(args: Query, ctx: Any) -> Found:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    nodes = [Node(slow, name="slow")]
    planner, _ = make_planner(
        [act("slow", {"text": "x"})],
        nodes=nodes,
        deadline_s=0.3,
        registry=registry_for(("slow", Query, Found)),
    )
    result = await planner.run("q")
    assert result.reason == "budget_exhausted"
    assert result.metadata["budget"] == "deadline_s"
    assert started.is_set() and cancelled.is_set()
    assert "deadline" in result.metadata["steps"][0]["error"]
    assert result.payload is not None and result.payload.partial


async def test_tools_get_context_meta_and_stream(make_planner: PlannerFactory) -> None:
    seen: dict[str, Any] = {}

    @tool(desc="Inspects its context")
    async def inspect_ctx(args: Query, ctx: ToolContext) -> Found:
        seen.update(
            tool_context=ctx.tool_context,
            llm_context=ctx.llm_context,
            meta=ctx.meta,
            tenant=ctx.runtime.message.headers.tenant,
            payload=type(args).__name__,
        )
        assert isinstance(ctx.runtime.message, Message)
        await ctx.emit_chunk("half way")
        await ctx.runtime.emit_chunk(parent=ctx.runtime.message, text="via runtime", done=True)
        return Found(value="ok")

    events: list[Any] = []
    planner, _ = make_planner(
        [act("inspect_ctx", {"text": "x"}), final()],
        nodes=[Node(inspect_ctx, name="inspect_ctx")],
        registry=registry_for(("inspect_ctx", Query, Found)),
        event_callback=events.append,
    )
    secret = object()
    result = await planner.run(
        "q", tool_context={"db": secret}, llm_context={"lang": "en"}, tenant_id="acme", run_id="r1"
    )
    assert result.reason == "answer_complete"
    assert seen["tool_context"] == {"db": secret}
    assert seen["llm_context"] == {"lang": "en"}
    assert seen["tenant"] == "acme" and seen["payload"] == "Query"
    assert seen["meta"]["run_id"] == "r1" and seen["meta"]["step"] == 1
    assert seen["meta"]["tool"] == "inspect_ctx"
    chunks = [(e.text, e.done) for e in events if e.event_type == "stream_chunk"]
    assert chunks == [("half way", False), ("via runtime", True)]
    assert result.metadata["steps"][0]["observation"] == {"value": "ok"}


async def test_bad_tool_output_is_an_error_observation(make_planner: PlannerFactory) -> None:
    @tool(desc="Returns junk")
    async def junk(args: Query, ctx: Any) -> Any:
        return {"wrong": 1}

    planner, _ = make_planner(
        [act("junk", {"text": "x"}), final()],
        nodes=[Node(junk, name="junk")],
        registry=registry_for(("junk", Query, Found)),
    )
    result = await planner.run("q")
    assert "does not match Found" in result.metadata["steps"][0]["error"]


@json_only  # RoutingLLM reads JSON-mode observations
async def test_concurrent_runs_share_one_flow_without_crosstalk(
    make_planner: PlannerFactory,
) -> None:
    in_flight = 0
    peak = 0
    gate = asyncio.Event()

    @tool(desc="Echo")
    async def echo(args: Query, ctx: ToolContext) -> Found:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if peak >= 5:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)
        in_flight -= 1
        return Found(value=f"{args.text}/{ctx.tool_context['who']}")

    def route(messages: list[dict[str, Any]]) -> str:
        last = messages[-1]["content"]
        if last.startswith("Observation"):
            return final(re.search(r'"value":"([^"]+)"', last).group(1))  # type: ignore[union-attr]
        query = re.search(r"Query:\n(\S+)", messages[1]["content"]).group(1)  # type: ignore[union-attr]
        return act("echo", {"text": query})

    planner, _ = make_planner(
        [],
        llm_client=RoutingLLM(route),
        nodes=[Node(echo, name="echo")],
        registry=registry_for(("echo", Query, Found)),
    )
    assert not planner._executor.started
    results = await asyncio.gather(
        *(planner.run(f"q{i}", tool_context={"who": f"u{i}"}) for i in range(8))
    )
    assert [r.payload.raw_answer for r in results] == [f"q{i}/u{i}" for i in range(8)]
    assert len({r.metadata["run_id"] for r in results}) == 8
    assert peak >= 5  # the runs really overlapped
    assert planner._executor.started and not planner._executor._calls


async def test_cancelling_the_run_cancels_the_tool(make_planner: PlannerFactory) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @tool(desc="Slow")
    async def slow(args: Query, ctx: Any) -> Found:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    planner, _ = make_planner(
        [act("slow", {"text": "x"})],
        nodes=[Node(slow, name="slow")],
        registry=registry_for(("slow", Query, Found)),
    )
    task = asyncio.create_task(planner.run("q"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 5)
    assert not planner._executor._calls
