"""Queue worker throughput on Redis, against the same planner runs called in a plain loop.

Every job is one planner run with an instant scripted LLM and a trivial tool (one tool
step, then the answer). Two figures:

1. **Queue overhead.** Jobs per CPU second of one ``Worker`` (this process, a
   ``RedisJobQueue``, ``--concurrency`` 32, ``--prefetch`` 128: the settings for jobs of
   well under a millisecond) draining N jobs, divided by the runs per CPU second of
   ``await planner.run(...)`` in a plain loop; the same ratio in wall-clock time is
   printed beside. Target: >= 0.4 (a job through the queue costs at most 2.5 times a
   plain run), in
   ``long_lived`` mode, where one flow serves every job as one
   planner serves every run of the plain loop, so the queue and the worker are the only
   difference. ``per_job`` mode (the default) also builds, starts and stops a flow for
   each job; its ratio is printed beside, without a target.
2. **Scaling.** Jobs per second of 2 worker processes divided by that of 1 (both started
   and warmed up before the jobs are released), the median of 6 rounds. On a 2-core
   machine Redis and this script share the cores too, so 2x is out of reach; >= 1.3 is expected.

The variants run interleaved in many short rounds and rotated (the first variant after a
switch runs slower). The machine's speed drifts between rounds, so the figure judged is
the median of the rounds' ratios, each taken between variants measured moments apart;
the ratio of the best rounds (each variant's fastest moment, wherever it fell) is printed
beside it. Redis:
``--redis URL``, else a ``redis-server`` is started in a temporary directory (the binary
must be installed). Run: ``python bench/bench_worker.py`` (``--quick`` for a smoke run;
``--jobs`` and ``--rounds`` for longer ones).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from penguiflow import Message, ModelRegistry, Node, create, tool
from penguiflow.planner import ReactPlanner
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import JobDone, Worker

# Jobs here take well under a millisecond: read many per read and keep enough running
# that each script call carries many completions (the defaults, 8 and 1, suit real jobs
# of seconds). Set with --concurrency / --prefetch.
CONCURRENCY = 32
PREFETCH = 128
JOBS = 600
ROUNDS = 20
TARGET = 0.4
"""Jobs per CPU second of one worker (``long_lived``) / planner runs per CPU second of the loop."""


class LookupArgs(BaseModel):
    key: str


class LookupOut(BaseModel):
    value: str


@tool(desc="Look a key up")
async def lookup(args: LookupArgs, ctx: Any) -> LookupOut:
    return LookupOut(value=args.key.upper())


class InstantLLM:
    """Answers at once: one tool call, then the final answer."""

    model = "bench-instant"

    async def complete(self, *, messages: list[dict[str, Any]], **_: Any) -> str:
        if any(m["role"] == "assistant" for m in messages):
            return json.dumps({"next_node": "final_response", "args": {"answer": "done"}})
        return json.dumps({"next_node": "lookup", "args": {"key": "k"}})


def build_planner() -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("lookup", LookupArgs, LookupOut)
    return ReactPlanner(
        llm_client=InstantLLM(), nodes=[Node(lookup, name="lookup")], registry=registry
    )


def flow_factory(planner: ReactPlanner) -> Any:
    async def agent(message: Message, ctx: Any) -> dict[str, Any]:
        result = await planner.run(
            message.payload["query"], tenant_id=message.headers.tenant, run_id=message.trace_id
        )
        return {"answer": result.payload.raw_answer if result.payload else None}

    return lambda: create(Node(agent, name="agent"))


# -- measurements ---------------------------------------------------------------------


async def plain_loop(planner: ReactPlanner, jobs: int) -> tuple[float, float]:
    """Runs per second of wall time and of this process's CPU time."""
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(jobs):
        await planner.run("look k up", tenant_id="bench", run_id=f"loop-{i}")
    return jobs / (time.perf_counter() - start), jobs / (time.process_time() - cpu)


class CountingQueue(RedisJobQueue):
    """Notes when the last of ``expected`` jobs is completed."""

    def __init__(self, *args: Any, expected: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.completed = 0
        self.all_done = asyncio.Event()
        self._on_done: Any = None
        self._counted: Any = None

    def complete_soon(
        self,
        job_id: str,
        *,
        result: Any,
        latency_s: float,
        on_done: JobDone,
    ) -> None:
        if on_done is not self._on_done:  # the worker passes the same callback every time
            self._on_done, self._counted = on_done, self._counting(on_done)
        RedisJobQueue.complete_soon(
            self, job_id, result=result, latency_s=latency_s, on_done=self._counted
        )

    def _counting(self, on_done: JobDone) -> JobDone:
        def done(job_id: str, error: BaseException | None) -> None:
            on_done(job_id, error)
            self.completed += 1
            if self.completed == self.expected:
                self.all_done.set()

        return done


async def one_worker(
    planner: ReactPlanner, url: str, jobs: int, mode: str, prefetch: int = 1
) -> tuple[float, float]:
    """Jobs per second of wall time and of this process's CPU time.

    Measured until the last job is completed: the worker's wait to find the queue empty
    (``block_s``) is not part of its throughput.
    """
    name = f"bench-{uuid.uuid4().hex[:8]}"
    queue = CountingQueue(url, name=name, block_s=0.02, prefetch=prefetch, expected=jobs)
    async with queue:
        for start in range(0, jobs, 500):
            batch = min(500, jobs - start)
            await queue.enqueue_many([{"query": "look k up"}] * batch, tenant="bench")
        worker = Worker(
            queue,
            flow_factory(planner),
            concurrency=CONCURRENCY,
            mode=mode,  # type: ignore[arg-type]
        )
        started, cpu = time.perf_counter(), time.process_time()
        running = asyncio.create_task(worker.run(stop_when_idle=True))
        finished = asyncio.create_task(queue.all_done.wait())
        await asyncio.wait({running, finished}, return_when=asyncio.FIRST_COMPLETED)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finished.cancel()
        stats = await running
        if stats.completed != jobs:
            raise RuntimeError(f"{stats.completed} of {jobs} jobs completed")
        await queue.purge()
    return jobs / elapsed, jobs / cpu


def start_workers(url: str, name: str, count: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-worker",
                "--redis",
                url,
                "--queue",
                name,
                f"--concurrency={CONCURRENCY}",
                f"--prefetch={PREFETCH}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


async def worker_processes(url: str, count: int, jobs: int) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    procs = start_workers(url, name, count)
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError("a worker process did not start")
        async with RedisJobQueue(url, name=name, block_s=0.02) as queue:
            for start in range(0, jobs, 500):
                batch = min(500, jobs - start)
                await queue.enqueue_many([{"query": "look k up"}] * batch, tenant="bench")
            started = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("GO\n")
                proc.stdin.flush()
            while (await queue.counts()).completed < jobs:  # noqa: ASYNC110 - polls Redis
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
        return jobs / elapsed
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        async with RedisJobQueue(url, name=name) as leftover:
            await leftover.purge()


async def serve_worker(url: str, name: str) -> None:
    """A worker process: warm up, say READY, wait for GO, work until terminated."""
    planner = build_planner()
    await planner.run("warm up", tenant_id="bench")
    queue = RedisJobQueue(url, name=name, block_s=0.02, prefetch=PREFETCH)
    worker = Worker(queue, flow_factory(planner), concurrency=CONCURRENCY, mode="long_lived")
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        await worker.run(handle_signals=True)
    finally:
        await queue.aclose()
        await planner.aclose()


# -- redis ----------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: install it or pass --redis redis://host:port/0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tempfile.mkdtemp(prefix="penguiflow-bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", root, "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


# -- main -----------------------------------------------------------------------------


async def measure(url: str, *, jobs: int, rounds: int, quick: bool) -> bool:
    planner = build_planner()
    await planner.run("warm up", tenant_id="bench")
    variants = ("loop", "long_lived", "per_job")
    wall = dict.fromkeys(variants, 0.0)
    cpu = dict.fromkeys(variants, 0.0)
    paired: dict[str, list[float]] = {"long_lived": [], "per_job": []}
    paired_wall: dict[str, list[float]] = {"long_lived": [], "per_job": []}
    try:
        for round_no in range(rounds):
            # Each round starts with another variant: the first one after a switch runs
            # measurably slower, which must not always be the same one.
            shift = round_no % len(variants)
            order = variants[shift:] + variants[:shift]
            measured: dict[str, tuple[float, float]] = {}
            for name in order:
                if name == "loop":
                    got = await plain_loop(planner, jobs)
                else:
                    got = await one_worker(planner, url, jobs, name, PREFETCH)
                measured[name] = got
                wall[name], cpu[name] = max(wall[name], got[0]), max(cpu[name], got[1])
            for mode in paired:
                paired[mode].append(measured[mode][1] / measured["loop"][1])
                paired_wall[mode].append(measured[mode][0] / measured["loop"][0])
    finally:
        await planner.aclose()
    print(f"worker concurrency {CONCURRENCY}, queue prefetch {PREFETCH}, {jobs} jobs per round")
    print(
        f"plain loop of planner runs: {wall['loop']:.0f} runs/s ({cpu['loop']:.0f} per CPU second)"
    )
    ok = True
    for mode in ("long_lived", "per_job"):
        median = statistics.median(paired[mode])
        if mode == "long_lived":
            verdict = f"(target >= {TARGET}x) " + ("ok" if median >= TARGET else "UNDER TARGET")
            ok = median >= TARGET
        else:
            verdict = "(a flow built per job on top of the queue)"
        print(
            f"{'one worker process (' + mode + ')':<40} {wall[mode]:.0f} jobs/s  "
            f"ratio {median:.2f}x CPU of the plain loop, median of {len(paired[mode])} "
            f"rounds {verdict}; wall-clock {statistics.median(paired_wall[mode]):.2f}x; "
            f"best rounds {cpu[mode] / cpu['loop']:.2f}x CPU, {wall[mode] / wall['loop']:.2f}x wall"
        )
    scale_jobs, scale_rounds = (400, 1) if quick else (4000, 6)
    one = two = 0.0
    scaling: list[float] = []
    for round_no in range(scale_rounds):
        counts = (1, 2) if round_no % 2 == 0 else (2, 1)
        rates = {count: await worker_processes(url, count, scale_jobs) for count in counts}
        one, two = max(one, rates[1]), max(two, rates[2])
        scaling.append(rates[2] / rates[1])
    ratio = statistics.median(scaling)
    verdict = "ok" if ratio >= 1.3 else "UNDER TARGET"
    print(
        f"{'1 -> 2 worker processes':<40} {one:.0f} -> {two:.0f} jobs/s (best rounds)  "
        f"ratio {ratio:.2f}x, median of {len(scaling)} rounds (target >= 1.3x on 2 cores) "
        f"{verdict}"
    )
    return ok and ratio >= 1.3


def main(argv: list[str] | None = None) -> bool:
    global CONCURRENCY, PREFETCH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis", help="redis://host:port/db (default: start a redis-server)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="jobs at once")
    parser.add_argument("--prefetch", type=int, default=PREFETCH, help="jobs read at once")
    parser.add_argument("--jobs", type=int, default=JOBS, help="jobs per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    CONCURRENCY, PREFETCH = args.concurrency, args.prefetch
    if args.serve_worker:
        asyncio.run(serve_worker(args.redis, args.queue))
        return True
    jobs, rounds = (200, 1) if args.quick else (args.jobs, args.rounds)
    with redis_server(args.redis) as url:
        return asyncio.run(measure(url, jobs=jobs, rounds=rounds, quick=args.quick))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
