"""A queue-backed agent worker on Redis Streams.

    # one command: queue 3 questions, answer them, print the results, exit
    python examples/worker/worker.py --redis redis://localhost:6379/0 --demo

    # a real deployment: one or more workers (SIGTERM drains them) ...
    python examples/worker/worker.py --redis redis://localhost:6379/0
    # ... and producers anywhere
    python examples/worker/worker.py --redis redis://localhost:6379/0 --enqueue "Weather in Oslo?"

Every job is one planner run, as one trace (``job-<id>``) with the job's tenant. The agent
runs offline with a scripted model; set ``PENGUIFLOW_MODEL`` (any LiteLLM model string)
to use a real one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from typing import Any

from pydantic import BaseModel, Field

from penguiflow import Message, ModelRegistry, Node, NodePolicy, configure_logging, create, tool
from penguiflow.planner import FunctionLLM, ReactPlanner, ToolContext
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import RetryPolicy, Worker

WEATHER = {"oslo": (-3.0, "snow"), "lisbon": (17.5, "sun"), "lima": (19.0, "cloud")}
QUEUE = "agent-jobs"


class CityArgs(BaseModel):
    city: str = Field(min_length=1, max_length=40, description="City name, e.g. 'Oslo'")


class Weather(BaseModel):
    city: str
    celsius: float
    sky: str


@tool(desc="Current weather of a city", side_effects="read")
async def get_weather(args: CityArgs, ctx: ToolContext) -> Weather:
    celsius, sky = WEATHER.get(args.city.strip().lower(), (12.0, "unknown"))
    return Weather(city=args.city, celsius=celsius, sky=sky)


def scripted_reply(messages: list[dict[str, Any]], _format: Any) -> dict[str, Any]:
    """An offline model: look the city of the question up, then answer."""
    question = messages[1]["content"]
    for message in reversed(messages):
        if message["role"] == "user" and message["content"].startswith("Observation"):
            report = json.loads(message["content"].split("\n", 1)[1])
            answer = f"{report['city']}: {report['celsius']:g} C, {report['sky']}"
            return {"next_node": "final_response", "args": {"answer": answer}}
    city = next((c for c in WEATHER if c in question.lower()), "oslo")
    return {"next_node": "get_weather", "args": {"city": city.title()}}


def build_planner() -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("get_weather", CityArgs, Weather)
    nodes = [Node(get_weather, name="get_weather", policy=NodePolicy(timeout_s=10))]
    model = os.environ.get("PENGUIFLOW_MODEL")
    if model:
        return ReactPlanner(model, nodes=nodes, registry=registry)
    return ReactPlanner(llm_client=FunctionLLM(scripted_reply), nodes=nodes, registry=registry)


def flow_factory(planner: ReactPlanner) -> Any:
    """One node that runs the planner on the job's question."""

    async def answer(message: Message, ctx: Any) -> dict[str, Any]:
        result = await planner.run(
            message.payload["question"],
            tenant_id=message.headers.tenant,
            run_id=message.trace_id,  # "job-<id>": a redelivered job keeps its run id
        )
        return {"reason": result.reason, "answer": result.payload.raw_answer}

    return lambda: create(Node(answer, name="answer"))


async def serve(url: str, *, demo: bool) -> None:
    planner = build_planner()
    queue = RedisJobQueue(url, name=QUEUE, visibility_timeout_s=30, block_s=0.2)
    try:
        ids = []
        if demo:
            for city in ("Oslo", "Lisbon", "Lima"):
                ids.append(await queue.enqueue({"question": f"Weather in {city}?"}, tenant="acme"))
        worker = Worker(
            queue,
            flow_factory(planner),
            concurrency=8,
            job_timeout_s=120,
            retry=RetryPolicy(max_attempts=3, backoff_base=2),
            mode="long_lived",
            shutdown_grace_s=30,
        )
        stats = await worker.run(handle_signals=True, stop_when_idle=demo)
        for job_id in ids:
            result = await queue.get_result(job_id)
            if result is not None:
                print(f"{job_id[:8]} {result.status}: {result.result['answer']}")
        print(f"completed={stats.completed} retried={stats.retried} failed={stats.failed}")
    finally:
        await queue.aclose()
        await planner.aclose()


async def enqueue(url: str, question: str, tenant: str) -> None:
    async with RedisJobQueue(url, name=QUEUE) as queue:
        job_id = await queue.enqueue({"question": question}, tenant=tenant)
        print(f"queued {job_id}; waiting for the result...")
        result = await queue.wait_result(job_id, timeout_s=300)
        print(result.result if result.status == "completed" else f"failed: {result.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    parser.add_argument("--demo", action="store_true", help="queue 3 jobs, run them, exit")
    parser.add_argument("--enqueue", metavar="QUESTION", help="queue one job and wait for it")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--log", action="store_true", help="structured (JSON) logs on stderr")
    args = parser.parse_args()
    if args.log:
        configure_logging(logging.INFO, structured=True)
    if args.enqueue:
        asyncio.run(enqueue(args.redis, args.enqueue, args.tenant))
    else:
        asyncio.run(serve(args.redis, demo=args.demo))


if __name__ == "__main__":
    main()
