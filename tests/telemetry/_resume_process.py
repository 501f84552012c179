"""Subprocess of test_cross_process.py: resumes a paused run with telemetry on.

Usage: python _resume_process.py DB_URL TOKEN SPANS_FILE LEDGER
Approves the pause, lets the run finish, writes every span as a JSON line to SPANS_FILE
and prints the result's class name.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from otel_helpers import build_planner, final  # noqa: E402
from otel_support import FileSpanExporter  # noqa: E402

from penguiflow.sessions import SqlSessionStore  # noqa: E402
from penguiflow.telemetry import instrument  # noqa: E402


async def main(url: str, token: str, spans: str, ledger: str) -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(spans)))
    instrument(tracer_provider=tracer_provider)
    async with SqlSessionStore(url) as store:
        planner = build_planner([final("refunded order 7")], state_store=store)
        async with planner:
            result = await planner.resume(token, approve=True, tool_context={"ledger": ledger})
    tracer_provider.shutdown()
    print(type(result).__name__, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
