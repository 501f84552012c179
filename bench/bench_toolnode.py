"""Per-call overhead of a ToolNode MCP call over stdio, against the bare ``mcp`` SDK.

Both variants talk to the same kind of server (``examples/mcp_agent/notes_server.py``,
one subprocess each) over stdio and make N sequential ``read_note`` calls. The baseline
is ``ClientSession.call_tool`` on a session opened with the SDK's ``stdio_client``.
ToolNode adds the allowlist check, JSON-Schema validation of the arguments, the attempt
timeout and retry wrapper, the concurrency limit, the supervisor-owned session and
result normalisation; the third line also routes each call through a runtime flow.

Times are wall-clock per call (and this process's CPU time per call, which other load on
the machine disturbs less), best round of each variant, rounds interleaved.
Target: ToolNode.call / SDK call_tool <= 1.5x.
Run: ``python bench/bench_toolnode.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from penguiflow import Headers, Message, create
from penguiflow.tools import ToolNode

SERVER = Path(__file__).resolve().parents[1] / "examples" / "mcp_agent" / "notes_server.py"
ARGS = {"title": "krill"}
TARGET = 1.5


async def timed(calls: int, fn: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds of this process) per call."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


async def measure(calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    inf = (float("inf"), float("inf"))
    best = {"sdk call_tool": inf, "ToolNode.call": inf, "via flow": inf}
    config = {
        "name": "notes",
        "transport": "mcp",
        "connection": [sys.executable, str(SERVER)],
        "allow": ["read_note"],
    }
    async with AsyncExitStack() as stack:
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        node = await stack.enter_async_context(ToolNode(config))
        spec = node.specs[0]
        flow = create(spec.node.to())
        flow.run()
        stack.push_async_callback(flow.stop)
        counter = iter(range(10**9))

        async def sdk() -> object:
            result = await session.call_tool("read_note", ARGS)
            if result.is_error:
                raise RuntimeError("the SDK call failed")
            return result

        async def toolnode() -> object:
            return await node.call("read_note", ARGS)

        async def via_flow() -> object:
            trace = f"t{next(counter)}"
            await flow.emit(Message(payload=ARGS, headers=Headers(tenant="bench"), trace_id=trace))
            return await flow.fetch(trace_id=trace)

        variants = {"sdk call_tool": sdk, "ToolNode.call": toolnode, "via flow": via_flow}
        for fn in variants.values():  # warm up both processes and code paths
            await timed(20, fn)
        for _ in range(rounds):
            for label, fn in variants.items():
                wall, cpu = await timed(calls, fn)
                best[label] = (min(best[label][0], wall), min(best[label][1], cpu))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="few calls (smoke test)")
    ns, _ = parser.parse_known_args()
    calls, rounds = (30, 2) if ns.quick else (ns.calls, ns.rounds)
    results = asyncio.run(measure(calls, rounds))
    print(f"-- MCP over stdio, {calls} sequential calls per round, best of {rounds}")
    for label, (wall, cpu) in results.items():
        print(f"{label:>14}: {wall * 1e6:9.1f} us/call wall, {cpu * 1e6:8.1f} us/call client CPU")
    base_wall, base_cpu = results["sdk call_tool"]
    ratio = results["ToolNode.call"][0] / base_wall
    cpu_ratio = results["ToolNode.call"][1] / base_cpu
    flow_ratio = results["via flow"][0] / base_wall
    verdict = "ok" if ratio <= TARGET else "OVER TARGET"
    print(f"ToolNode.call vs SDK call_tool (wall): {ratio:.2f}x (target <= {TARGET}x) {verdict}")
    print(f"ToolNode.call vs SDK call_tool (client CPU): {cpu_ratio:.2f}x")
    print(f"ToolNode through a runtime flow vs SDK call_tool (wall): {flow_ratio:.2f}x")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
