"""A worker process for the scale-out tests: a Worker on a RedisJobQueue running an agent.

    python worker_proc.py --redis URL --queue NAME [--pg URL] [--concurrency N] [--prefetch N] ...

Prints ``READY`` once it is fetching jobs; stops gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis.asyncio import Redis
from scaleout_helpers import agent_flow_factory, build_planner

from penguiflow import configure_logging
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import RetryPolicy, Worker


async def main(args: argparse.Namespace) -> None:
    configure_logging(logging.INFO, structured=True)
    store = None
    if args.pg:
        from penguiflow.sessions import SqlSessionStore

        store = SqlSessionStore(args.pg, pool_size=4)
        await store.setup()
    redis = Redis.from_url(args.redis, decode_responses=True)
    planner = build_planner(state_store=store if args.hitl else None)
    queue = RedisJobQueue(
        args.redis,
        name=args.queue,
        visibility_timeout_s=args.visibility,
        block_s=0.2,
        prefetch=args.prefetch,
    )
    tool_context = {"store": store, "redis": redis, "queue": args.queue}
    worker = Worker(
        queue,
        agent_flow_factory(planner, tool_context),
        concurrency=args.concurrency,
        job_timeout_s=args.job_timeout,
        shutdown_grace_s=args.grace,
        mode=args.mode,
        retry=RetryPolicy(max_attempts=3, backoff_base=0.1),
    )
    await planner.run("warm up")  # the first run loads the tokenizer: do it before READY
    print("READY", flush=True)
    try:
        await worker.run(handle_signals=True)
    finally:
        await queue.aclose()
        await planner.aclose()
        await redis.aclose()
        if store is not None:
            await store.close()
    print(f"STOPPED {worker.stats}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--pg")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--visibility", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--job-timeout", type=float, default=60.0)
    parser.add_argument("--mode", default="long_lived")
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--hitl", action="store_true", help="give the planner the store")
    asyncio.run(main(parser.parse_args()))
