"""An agent HTTP service process for the scale-out tests (uvicorn on 127.0.0.1).

    python agent_service_proc.py --port P --pg URL --redis URL --queue NAME

Serves the same offline agent as worker_proc.py, with the session store on PostgreSQL,
so a pause created by a worker can be decided here. Prints ``READY`` once serving.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvicorn
from redis.asyncio import Redis
from scaleout_helpers import build_planner

from penguiflow.server import create_agent_app
from penguiflow.sessions import SqlSessionStore


async def main(args: argparse.Namespace) -> None:
    store = SqlSessionStore(args.pg, pool_size=4)
    await store.setup()
    redis = Redis.from_url(args.redis, decode_responses=True)

    def tool_context(request: Any, tenant: str) -> dict[str, Any]:
        return {"redis": redis, "queue": args.queue, "store": store}

    app = create_agent_app(
        lambda callback: build_planner(callback, state_store=store),
        store=store,
        tool_context_from_request=tool_context,
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    print("READY", flush=True)
    try:
        await serving
    finally:
        await redis.aclose()
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pg", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--queue", required=True)
    asyncio.run(main(parser.parse_args()))
