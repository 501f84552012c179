"""Every metric is emitted, with the attributes the conventions give."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from otel_helpers import EVERY_METRIC, act, build_planner, final, parallel
from otel_support import Collected, points

from penguiflow import Headers, Message, Node, NodePolicy, create
from penguiflow.planner import PlannerPause
from penguiflow.scaleout import InMemoryJobQueue, Worker
from penguiflow.telemetry._names import DURATION_BUCKETS, TOKEN_BUCKETS


async def test_genai_client_metrics_follow_the_conventions(otel: Collected) -> None:
    planner = build_planner([act("weather", {"city": "Paris"}), final("sunny")])
    async with planner:
        await planner.run("weather in Paris?")
    metrics = otel.metrics()
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    }
    (input_tokens,) = points(metrics, "gen_ai.client.token.usage", **{"gen_ai.token.type": "input"})
    (output_tokens,) = points(
        metrics, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}
    )
    assert input_tokens.attributes == {**chat, "gen_ai.token.type": "input"}
    assert (input_tokens.count, input_tokens.sum) == (2, 200)
    assert (output_tokens.count, output_tokens.sum) == (2, 40)
    assert tuple(input_tokens.explicit_bounds) == TOKEN_BUCKETS
    (duration,) = points(metrics, "gen_ai.client.operation.duration")
    assert duration.attributes == chat and duration.count == 2
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    (tool,) = points(metrics, "penguiflow.tool.duration")
    assert tool.attributes == {"gen_ai.tool.name": "weather"} and tool.count == 1
    (run,) = points(metrics, "penguiflow.run.duration")
    assert run.attributes == {
        "penguiflow.run.outcome": "answer_complete",
        "gen_ai.agent.name": "assistant",
    }


async def test_every_metric_is_emitted(otel: Collected, store: Any, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger")
    planner = build_planner(
        [
            parallel([("weather", {"city": "Paris"}), ("weather", {"city": "Atlantis"})]),
            act("refund", {"order_id": 1}),
            final("refunded"),
        ],
        state_store=store,
    )

    async def agent(message: Message, ctx: Any) -> Any:  # one queue job: one planner run
        return await planner.run(message.payload["query"], tool_context={"ledger": ledger})

    started, release = asyncio.Event(), asyncio.Event()

    async def held(message: Message, ctx: Any) -> Message:
        started.set()
        await release.wait()
        return message

    flow = create(Node(held, name="held", policy=NodePolicy(max_concurrency=1)).to())
    flow.run()
    queue = InMemoryJobQueue(poll_s=0.01)
    async with planner:
        job_id = await queue.enqueue({"query": "refund order 1"})
        worker = Worker(queue, lambda: create(Node(agent, name="agent")), concurrency=1)
        await worker.run(stop_when_idle=True)
        paused = (await queue.wait_result(job_id, timeout_s=5)).result
        assert isinstance(paused, PlannerPause)
        for i in range(2):
            await flow.emit(Message(payload=i, headers=Headers(tenant="t"), trace_id=f"h{i}"))
        await asyncio.wait_for(started.wait(), 5)
        during_pause = otel.metrics()
        await planner.resume(paused.resume_token, approve=True, tool_context={"ledger": ledger})
    release.set()
    await flow.stop()
    after = otel.metrics()

    assert EVERY_METRIC <= set(during_pause)
    assert points(during_pause, "penguiflow.pauses.pending")[0].value == 1
    assert points(after, "penguiflow.pauses.pending")[0].value == 0
    held_node = {"penguiflow.node.name": "held"}
    assert points(during_pause, "penguiflow.node.in_flight", **held_node)[0].value == 1
    assert points(during_pause, "penguiflow.node.queue.depth", **held_node)[0].value == 1
    (errors,) = points(during_pause, "penguiflow.tool.errors")
    assert errors.attributes == {"gen_ai.tool.name": "weather", "error.type": "node_exception"}
    jobs = {
        p.attributes["penguiflow.job.event"]: p.value
        for p in points(during_pause, "penguiflow.worker.jobs")
    }
    assert jobs == {"fetched": 1, "completed": 1}
    outcomes = sorted(
        p.attributes["penguiflow.run.outcome"] for p in points(after, "penguiflow.run.duration")
    )
    assert outcomes == ["answer_complete", "paused"]
