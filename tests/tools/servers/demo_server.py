"""A small MCP server for the ToolNode tests (stdio, streamable HTTP or SSE).

Run: python demo_server.py [--transport stdio|streamable-http|sse] [--port N]
     [--ignore-eof] [--ignore-term] [--spawn-child PIDFILE] [--say-env NAME]
     [--mark-start FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Literal

if __name__ == "__main__" and "--fail-if-exists" in sys.argv:
    # Checked before the (slow) SDK import, so a "server down" start fails fast.
    if Path(sys.argv[sys.argv.index("--fail-if-exists") + 1]).exists():
        sys.exit(7)

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel

READ_ONLY = ToolAnnotations(read_only_hint=True)

server = MCPServer("demo", log_level="WARNING")


class Item(BaseModel):
    sku: str
    qty: int = 1


class Customer(BaseModel):
    name: str
    email: str | None = None


@server.tool(description="Add two integers.", annotations=READ_ONLY)
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Echo the text back, optionally upper-cased.")
def echo(text: str, upper: bool = False) -> str:
    return text.upper() if upper else text


@server.tool(description="Report exactly which arguments arrived.", annotations=READ_ONLY)
def inspect_args(required: str, optional: str = "server-default", flag: bool | None = None) -> dict:
    return {"required": required, "optional": optional, "flag": flag}


@server.tool(description="Create an order.")
def create_order(
    customer: Customer, items: list[Item], priority: Literal["low", "high"] = "low"
) -> dict:
    return {"customer": customer.name, "count": sum(i.qty for i in items), "priority": priority}


@server.tool(description="Sleep, then answer.", annotations=READ_ONLY)
async def slow(seconds: float, marker: str | None = None) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if marker:
            # Synchronous on purpose: an await here would be cancelled too.
            Path(marker).write_text("cancelled")  # noqa: ASYNC240
        raise
    return "done"


@server.tool(description="Return this server's process id.", annotations=READ_ONLY)
def pid() -> int:
    return os.getpid()


@server.tool(
    description="Die on the first call (marker file absent), answer afterwards.",
    annotations=READ_ONLY,
)
def flaky_read(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os._exit(3)
    return "ok after restart"


@server.tool(description="Write something, dying mid-call (not safe to repeat).")
def crash_write(marker: str) -> str:
    with open(marker, "a") as f:
        f.write("x")
    os._exit(3)


@server.tool(description="Always fails.")
def fail(reason: str = "boom") -> str:
    raise ToolError(f"tool failed: {reason}")


@server.tool(description="Return a small or big image.", annotations=READ_ONLY)
def picture(size: int = 8) -> Image:
    return Image(data=b"\x89PNG" + b"\0" * size, format="png")


@server.tool(description="Shout (denied in most tests).")
def shout(text: str) -> str:
    return text.upper() + "!"


@server.tool(description="Return an HTTP request header (HTTP transports).", annotations=READ_ONLY)
def request_header(name: str, ctx: Context, sha256: bool = False) -> str | None:
    request = ctx.request_context.request
    value = None if request is None else request.headers.get(name)
    if sha256 and value is not None:
        import hashlib

        return hashlib.sha256(value.encode()).hexdigest()
    return value


@server.tool(description="Return an environment variable of the server.", annotations=READ_ONLY)
def env_value(name: str) -> str | None:
    return os.environ.get(name)


@server.tool(description="Fail, quoting an environment variable in the error.")
def env_error(name: str) -> str:
    raise ToolError(f"refused with {os.environ.get(name)}")


@server.tool(description="Change the tool list and notify the client.")
async def mutate(ctx: Context) -> str:
    server.remove_tool("echo")

    def echo_v2(text: str, upper: bool = False, times: int = 1) -> str:
        return (text.upper() if upper else text) * times

    server.add_tool(echo_v2, name="echo", description="Echo the text, now with repeats.")

    def late_tool() -> str:
        return "late"

    server.add_tool(late_tool, name="late_tool", description="Added at runtime.")
    await ctx.request_context.session.send_tool_list_changed()
    return "mutated"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ignore-eof", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--fail-if-exists")
    parser.add_argument("--spawn-child", help="start a long-lived child, write its pid here")
    parser.add_argument("--say-env", help="print this variable's value on stderr at start")
    parser.add_argument("--mark-start", help="append a line to this file at start")
    args = parser.parse_args()
    if args.mark_start:
        with open(args.mark_start, "a") as marks:
            marks.write(f"{os.getpid()}\n")
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.spawn_child:
        import subprocess

        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        Path(args.spawn_child).write_text(str(child.pid))
    if args.say_env:
        print(f"starting with {args.say_env}={os.environ.get(args.say_env)}", file=sys.stderr)
    if args.transport == "stdio":
        anyio.run(server.run_stdio_async)
        if args.ignore_eof:
            time.sleep(3600)
        return
    kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": args.port}
    server.run(args.transport, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
