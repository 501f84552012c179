"""Helpers of the scale-out tests: an offline agent, a journaled side effect, a uvicorn thread.

Imported by name (tests/scaleout is on sys.path) by the tests and by worker_proc.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis

from penguiflow import ModelRegistry, Node, NodePolicy, create, tool
from penguiflow.planner import FunctionLLM, ReactPlanner, ToolContext
from penguiflow.scaleout.redis_queue import RedisJobQueue

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = Path(__file__).resolve().parent / "worker_proc.py"
SERVICE_SCRIPT = Path(__file__).resolve().parent / "agent_service_proc.py"


class EffectArgs(BaseModel):
    n: int


class EffectResult(BaseModel):
    n: int
    pid: int
    replayed: bool = False


class RefundArgs(BaseModel):
    order: int


class Refunded(BaseModel):
    order: int
    pid: int


class SleepArgs(BaseModel):
    seconds: float


class Slept(BaseModel):
    seconds: float


def effects_key(queue: str) -> str:
    return f"test:{queue}:effects"


def running_key(queue: str, run_id: str) -> str:
    return f"test:{queue}:running:{run_id}"


@tool(desc="Record one side effect for the run, at most once (tool-call journal)")
async def record_effect(args: EffectArgs, ctx: ToolContext) -> EffectResult:
    """Count one effect per run in Redis; the session store's journal prevents repeats."""
    deps = ctx.tool_context
    store, redis, queue = deps["store"], deps["redis"], deps["queue"]
    if not deps.get("journal", True) or store is None:  # a plain, unprotected effect
        await asyncio.sleep(deps.get("delay", 0))  # a job that takes a while
        await redis.hincrby(effects_key(queue), ctx.run_id, 1)
        return EffectResult(n=args.n, pid=os.getpid())
    begun = await store.journal_begin(
        ctx.run_id, "record_effect", tool="record_effect", args=args.model_dump()
    )
    if begun.completed:
        return EffectResult(**begun.entry.result, replayed=True)
    await redis.hincrby(effects_key(queue), ctx.run_id, 1)
    result = {"n": args.n, "pid": os.getpid()}
    await store.journal_complete(ctx.run_id, "record_effect", result=result)
    if deps.get("hang_after_effect"):
        await redis.set(running_key(queue, ctx.run_id), os.getpid())
        await asyncio.sleep(3600)
    return EffectResult(**result)


@tool(desc="Refund an order (a human approves first)", side_effects="write", requires_approval=True)
async def refund(args: RefundArgs, ctx: ToolContext) -> Refunded:
    deps = ctx.tool_context
    await deps["redis"].hincrby(effects_key(deps["queue"]), f"refund:{ctx.run_id}", 1)
    return Refunded(order=args.order, pid=os.getpid())


@tool(desc="Sleep a while (a slow tool)")
async def slow_tool(args: SleepArgs, ctx: ToolContext) -> Slept:
    await ctx.emit_chunk(f"sleeping {args.seconds}s")
    await asyncio.sleep(args.seconds)
    return Slept(seconds=args.seconds)


def _reply(messages: list[dict[str, Any]], _format: Any) -> dict[str, Any]:
    """Call the tool named in the query (``tool:arg``) once, then answer."""
    query = messages[1]["content"].split("Query:", 1)[-1].strip().splitlines()[0]
    if any(m["role"] == "assistant" for m in messages):
        return {"next_node": "final_response", "args": {"answer": f"done: {query}"}}
    name, _, value = query.partition(":")
    if name == "crash":
        raise RuntimeError("the model provider crashed")
    if name == "effect":
        return {"next_node": "record_effect", "args": {"n": int(value)}}
    if name == "refund":
        return {"next_node": "refund", "args": {"order": int(value)}}
    if name == "sleep":
        return {"next_node": "slow_tool", "args": {"seconds": float(value)}}
    return {"next_node": "final_response", "args": {"answer": f"echo: {query}"}}


def build_planner(event_callback: Any = None, **options: Any) -> ReactPlanner:
    """An offline planner: ``effect:<n>`` records an effect, ``sleep:<s>`` sleeps,
    ``refund:<order>`` (only with a ``state_store``) pauses for approval, then refunds."""
    registry = ModelRegistry()
    registry.register("record_effect", EffectArgs, EffectResult)
    registry.register("slow_tool", SleepArgs, Slept)
    nodes = [
        Node(record_effect, name="record_effect"),
        Node(slow_tool, name="slow_tool", policy=NodePolicy(timeout_s=60)),
    ]
    if options.get("state_store") is not None:  # pausing needs a store to keep pauses
        registry.register("refund", RefundArgs, Refunded)
        nodes.append(Node(refund, name="refund"))
    return ReactPlanner(
        llm_client=FunctionLLM(_reply),
        nodes=nodes,
        registry=registry,
        event_callback=event_callback,
        **options,
    )


def agent_flow_factory(planner: ReactPlanner, tool_context: dict[str, Any]) -> Any:
    """A flow factory for a Worker: one node running the planner on ``payload["query"]``."""

    async def agent(message: Any, ctx: Any) -> Any:
        payload = message.payload
        if "sleep" in payload:
            await redis_mark(tool_context, message.trace_id)
            await asyncio.sleep(float(payload["sleep"]))
            return {"slept": payload["sleep"]}
        result = await planner.run(
            payload["query"],
            tenant_id=message.headers.tenant,
            run_id=message.trace_id,
            tool_context={**tool_context, **payload.get("tool_context", {})},
        )
        if type(result).__name__ == "PlannerPause":
            return {
                "paused": True,
                "resume_token": result.resume_token,
                "pause_id": result.pause_id,
                "run_id": result.run_id,
                "tenant": message.headers.tenant,
            }
        steps = result.metadata.get("steps", [])
        return {
            "answer": result.payload.raw_answer if result.payload else None,
            "observation": steps[0]["observation"] if steps else None,
            "tenant": message.headers.tenant,
        }

    def build() -> Any:
        return create(Node(agent, name="agent"))

    return build


async def redis_mark(tool_context: dict[str, Any], run_id: str) -> None:
    redis = tool_context.get("redis")
    if redis is not None:
        await redis.set(running_key(tool_context["queue"], run_id), os.getpid())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def worker_command(*args: str) -> list[str]:
    return [sys.executable, str(WORKER_SCRIPT), *args]


@contextmanager
def workers(count: int, tmp_path: Path, *args: str) -> Iterator[list[subprocess.Popen[str]]]:
    """Start ``count`` worker processes and wait until each prints READY."""
    procs = []
    try:
        for i in range(count):
            log = open(tmp_path / f"worker-{i}.log", "w")
            proc = subprocess.Popen(
                worker_command(*args),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=REPO_ROOT,
            )
            log.close()
            procs.append(proc)
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "READY", f"worker did not start: {line!r}"
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


@asynccontextmanager
async def producer(redis_url: str, queue_name: str) -> AsyncIterator[tuple[RedisJobQueue, Redis]]:
    queue = RedisJobQueue(redis_url, name=queue_name, block_s=0.05)
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield queue, redis
    finally:
        await queue.aclose()
        await redis.aclose()


async def wait_for(predicate: Any, *, timeout: float, what: str) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover


async def stop_gracefully(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        rc = await asyncio.to_thread(proc.wait, 30)
        assert rc == 0


@contextmanager
def agent_service(tmp_path: Path, *args: str) -> Iterator[str]:
    """Start agent_service_proc.py on a free port; yields its base URL."""
    port = free_port()
    log = open(tmp_path / "service.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE_SCRIPT), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=REPO_ROOT,
    )
    log.close()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "READY", f"the service did not start: {line!r}"
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
