"""Telemetry overhead: the same flow and planner runs with telemetry off and on.

Off is the default (``penguiflow.telemetry`` never installed, or ``uninstrument()``
called): the runtime tests one attribute per message and the planner one per model
request and tool call, and take no other branch. On is ``instrument()`` with the SDK's
providers as a service would set them up: spans go through a ``BatchSpanProcessor`` to
an exporter that drops them, metrics to a periodic reader (its exporter drops them too),
so the figure is the cost of making and handing over the spans and measurements, not of
any network.

Workloads: a flow of three nodes (``a -> b -> c``), 200 traces emitted then fetched (one
node span per message per node when on); and a planner run of 20 tool steps and a final
answer with an instant scripted LLM (per step: a ``chat`` span, an ``execute_tool`` span
and its node span). Times are CPU time of the process (the exporter's thread included),
per message and per step; the variants run interleaved and the judged figure is the
median of the rounds' ratios.

Off against the code before telemetry existed cannot run in one process. What off adds
is the hook checks: the script times one and prints what the checks made per message
and per planner step weigh against the off time (target: at most 2%); the README also
gives ``bench_runtime.py`` and ``bench_planner.py`` measured before and after. On is
reported without a target: it is the OpenTelemetry SDK's cost of a span (tens of
microseconds in Python), which a real model call or tool hides.
Run: ``python bench/bench_telemetry.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pydantic import BaseModel

from penguiflow import Headers, Message, ModelRegistry, Node, create, tool
from penguiflow._hooks import HOOKS
from penguiflow.planner import ReactPlanner
from penguiflow.telemetry import instrument, uninstrument

TRACES = 200
STEPS = 20

UNITS = {
    # workload: (unit, spans per unit when on, hook checks per unit when off)
    "flow": ("per message per node", 1, 2),  # worker shortcut; a new trace (a third of them)
    "planner": ("per planner step", 3, 5),  # chat; tool call; node; new trace; flow.call
}
OFF_TARGET = 0.02


class _DropSpans(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _DropMetrics(MetricExporter):
    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class AddArgs(BaseModel):
    a: int
    b: int


class AddOut(BaseModel):
    total: int


@tool(desc="Add two integers")
async def add(args: AddArgs, ctx: Any) -> AddOut:
    return AddOut(total=args.a + args.b)


class InstantLLM:
    """Replies from a fixed script instantly (cycling), like a zero-latency provider."""

    model = "openai/bench-instant"

    def __init__(self, replies: list[str]) -> None:
        self._replies = replies
        self._i = 0

    async def complete(self, *, messages: Any, response_format: Any = None, **_: Any) -> str:
        reply = self._replies[self._i % len(self._replies)]
        self._i += 1
        return reply


def _script() -> list[str]:
    step = {"thought": "add", "next_node": "add", "args": {"a": 1, "b": 2}}
    done = {"thought": "done", "next_node": "final_response", "args": {"answer": "3"}}
    return [json.dumps(step)] * STEPS + [json.dumps(done)]


async def _passthrough(message: Any, ctx: Any) -> Any:
    return message


async def _flow_round() -> None:
    a, b, c = (Node(_passthrough, name=name) for name in "abc")
    flow = create(a.to(b), b.to(c))
    flow.run()
    try:
        for i in range(TRACES):
            await flow.emit(Message(payload=i, headers=Headers(tenant="t"), trace_id=f"t{i}"))
        for i in range(TRACES):
            await flow.fetch(trace_id=f"t{i}")
    finally:
        await flow.stop()


def _planner() -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("add", AddArgs, AddOut)
    return ReactPlanner(
        llm_client=InstantLLM(_script()),
        nodes=[Node(add, name="add")],
        registry=registry,
        max_iters=STEPS + 2,
        tool_mode="json",
    )


def _cpu(fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def timed() -> float:
        started = time.process_time()
        await fn()
        return time.process_time() - started

    return timed


async def measure(repeats: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """Per round, the CPU time per message (flow) and per step (planner), off and on."""
    tracer_provider = TracerProvider()
    # A queue that never overflows: every span is handed over (and counted in the time).
    tracer_provider.add_span_processor(BatchSpanProcessor(_DropSpans(), max_queue_size=100_000))
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(_DropMetrics(), 1000)]
    )
    planner = _planner()

    async def planner_runs() -> None:
        for _ in range(runs):
            await planner.run("add things")

    work = {
        "flow": (_cpu(_flow_round), TRACES * 3),
        "planner": (_cpu(planner_runs), runs * (STEPS + 1)),
    }
    found: dict[str, dict[str, list[float]]] = {name: {"off": [], "on": []} for name in work}
    try:
        for _ in range(2):  # warm up both ways
            for timed, _ in work.values():
                await timed()
        for round_number in range(repeats):
            # Alternate which variant goes first: the first after a switch runs slower.
            order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
            for variant in order:
                if variant == "on":
                    instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                try:
                    for name, (timed, units) in work.items():
                        found[name][variant].append(await timed() / units)
                finally:
                    uninstrument()
    finally:
        await planner.aclose()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    return found


def hook_check_s(loops: int = 2_000_000) -> float:
    """CPU seconds of one ``HOOKS.runtime is None`` test, the check made when off.

    The median over rounds of a loop making the test, less the same loop without it.
    """
    diffs = []
    for _ in range(7):
        started = time.process_time()
        for _ in range(loops):
            if HOOKS.runtime is None:
                pass
        checked = time.process_time() - started
        started = time.process_time()
        for _ in range(loops):
            pass
        diffs.append((checked - (time.process_time() - started)) / loops)
    return max(statistics.median(diffs), 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--runs", type=int, default=10, help="planner runs per round")
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    ns = parser.parse_args()
    repeats = 3 if ns.quick else ns.repeats
    found = asyncio.run(measure(repeats, ns.runs))
    check = hook_check_s()
    print(f"-- telemetry off and on, {repeats} interleaved rounds")
    for name, variants in found.items():
        unit, spans, checks = UNITS[name]
        off, on = variants["off"], variants["on"]
        ratio = statistics.median(b / a for a, b in zip(off, on, strict=True))
        per_span = (statistics.median(on) - statistics.median(off)) / spans
        print(
            f"{name:>8} {unit}: off {min(off) * 1e6:6.1f} us, on {min(on) * 1e6:6.1f} us "
            f"(best rounds); on / off {ratio:.2f}x, median of the rounds; about "
            f"{per_span * 1e6:.0f} us per span with its measurements (reported, no target)"
        )
        share = checks * check / statistics.median(off)
        print(
            f"{name:>8} off: {checks} hook checks of {check * 1e9:.1f} ns = {share:.2%} of its "
            f"off time (target <= {OFF_TARGET:.0%}) {'ok' if share <= OFF_TARGET else 'OVER TARGET'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
