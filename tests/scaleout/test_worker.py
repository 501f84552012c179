"""Worker behaviour in one process: traces, deadlines, retries, flow modes, shutdown, logs."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import pytest

from penguiflow import Message, Node, NodePolicy, create
from penguiflow.errors import ConfigError
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import (
    BatchingJobQueue,
    InMemoryJobQueue,
    Job,
    JobQueue,
    PermanentJobError,
    QueueBackendError,
    ReadAheadJobQueue,
    ReleasableJobQueue,
    RetryPolicy,
    Worker,
    WorkerState,
)


def single_node_factory(func: Any, built: list[Any] | None = None, **policy: Any) -> Any:
    def build() -> Any:
        flow = create(Node(func, name="work", policy=NodePolicy(**policy)))
        if built is not None:
            built.append(flow)
        return flow

    return build


async def run_until_results(
    worker: Worker, queue: Any, ids: list[str], timeout: float = 20.0
) -> dict[str, Any]:
    task = asyncio.create_task(worker.run())
    try:
        results = {}
        for job_id in ids:
            results[job_id] = await queue.wait_result(job_id, timeout_s=timeout)
        return results
    finally:
        worker.request_stop()
        await task


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        yield InMemoryJobQueue(poll_s=0.05)
        return
    server = request.getfixturevalue("redis_server")  # sync: safe inside an async fixture
    name = request.getfixturevalue("queue_name")
    async with RedisJobQueue(f"{server}/0", name=name, block_s=0.05, visibility_timeout_s=5) as q:
        yield q
        await q.purge()


async def test_each_job_is_one_trace_with_its_tenant(queue: Any) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def work(message: Message, ctx: Any) -> dict[str, Any]:
        seen.append((message.trace_id, message.headers.tenant, dict(message.meta)))
        assert ctx.trace_id == message.trace_id
        return {"echo": message.payload["x"]}

    a = await queue.enqueue({"x": 1}, tenant="acme", job_id="a1")
    b = await queue.enqueue({"x": 2}, tenant="globex", job_id="b2")
    worker = Worker(queue, single_node_factory(work), concurrency=2, job_timeout_s=10)
    results = await run_until_results(worker, queue, [a, b])
    assert results[a].status == "completed" and results[a].result == {"echo": 1}
    assert results[b].result == {"echo": 2}
    assert sorted((t, tenant) for t, tenant, _ in seen) == [
        ("job-a1", "acme"),
        ("job-b2", "globex"),
    ]
    assert all(meta["attempt"] == 0 for _, _, meta in seen)
    assert worker.stats.completed == 2 and worker.state is WorkerState.STOPPED


async def test_job_deadline_cancels_the_trace_and_fails_after_last_attempt(queue: Any) -> None:
    cancelled = asyncio.Event()

    async def hang(message: Message, ctx: Any) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await queue.enqueue({"x": 1})
    worker = Worker(
        queue,
        single_node_factory(hang),
        job_timeout_s=0.3,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.05),
        mode="long_lived",
    )
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert cancelled.is_set()
    assert result.status == "failed"
    assert result.reason == "job_timeout"
    assert result.attempts == 2
    assert worker.stats.timed_out == 2 and worker.stats.retried == 1


async def test_a_node_ignoring_cancellation_is_stopped_by_the_outer_bound(queue: Any) -> None:
    ignored = asyncio.Event()
    stopped = asyncio.Event()

    async def stubborn(message: Message, ctx: Any) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ignored.set()  # swallows the deadline's cancel and goes on
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.set()
            raise

    quick = await queue.enqueue({"x": 0})
    job_id = await queue.enqueue({"x": 1})

    async def work(message: Message, ctx: Any) -> str | None:
        if message.payload["x"] == 0:
            return "fine"
        await stubborn(message, ctx)
        return None

    worker = Worker(
        queue,
        single_node_factory(work),
        job_timeout_s=0.3,
        retry=RetryPolicy(max_attempts=1),
        mode="long_lived",
    )
    results = await run_until_results(worker, queue, [quick, job_id])
    assert results[quick].status == "completed" and results[quick].result == "fine"
    assert ignored.is_set() and stopped.is_set()
    assert results[job_id].status == "failed" and results[job_id].reason == "job_timeout"
    assert worker.stats.timed_out == 1 and worker.stats.completed == 1


async def test_a_queue_that_never_waits_does_not_starve_running_jobs() -> None:
    queue = InMemoryJobQueue(poll_s=0)  # fetch returns None at once when empty

    async def slow(message: Message, ctx: Any) -> str:
        await asyncio.sleep(0.02)
        return "done"

    ids = [await queue.enqueue({}) for _ in range(3)]
    worker = Worker(queue, single_node_factory(slow), concurrency=2)
    stats = await asyncio.wait_for(worker.run(stop_when_idle=True), timeout=10)
    assert stats.completed == 3
    assert [(await queue.wait_result(i, timeout_s=1)).result for i in ids] == ["done"] * 3


async def test_failed_attempts_are_retried_with_backoff_then_succeed() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)

    async def flaky(message: Message, ctx: Any) -> str:
        if message.meta["attempt"] < 2:
            raise RuntimeError(f"transient failure {message.meta['attempt']}")
        return "ok"

    job_id = await queue.enqueue({})
    policy = RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_mult=3.0)
    worker = Worker(queue, single_node_factory(flaky), retry=policy)
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert result.status == "completed" and result.result == "ok" and result.attempts == 3
    retries = [h for h in queue.history if h[1] == "retry"]
    assert [reason for _, _, reason in retries] == ["flow_error:node_exception"] * 2
    assert [policy.backoff_for(n) for n in (1, 2, 3)] == pytest.approx([0.01, 0.03, 0.09])


async def test_exhausted_retries_fail_the_job_with_details(queue: Any) -> None:
    async def broken(message: Message, ctx: Any) -> None:
        raise KeyError("missing")

    job_id = await queue.enqueue({})
    worker = Worker(
        queue, single_node_factory(broken), retry=RetryPolicy(max_attempts=2, backoff_base=0.01)
    )
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert result.status == "failed" and result.attempts == 2
    assert result.reason == "flow_error:node_exception"
    assert result.details["cause"] == "KeyError" and result.details["node_name"] == "work"


async def test_permanent_error_fails_at_once() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)

    async def refuse(message: Message, ctx: Any) -> None:
        raise PermanentJobError("order 42 does not exist")

    job_id = await queue.enqueue({})
    worker = Worker(queue, single_node_factory(refuse), retry=RetryPolicy(max_attempts=5))
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert result.status == "failed" and result.attempts == 1
    assert worker.stats.retried == 0


async def test_long_lived_flow_is_rebuilt_after_n_jobs_and_after_an_unexpected_error() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)
    built: list[Any] = []

    async def work(message: Message, ctx: Any) -> int:
        return int(message.payload["n"])

    worker = Worker(
        queue,
        single_node_factory(work, built),
        mode="long_lived",
        rebuild_after_jobs=4,
        concurrency=1,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01),
    )
    ids = [await queue.enqueue({"n": n}) for n in range(6)]
    task = asyncio.create_task(worker.run())
    for job_id in ids:
        await queue.wait_result(job_id, timeout_s=10)
    assert len(built) == 2  # at most 4 jobs per flow
    # Someone breaks the shared flow: the next job fails unexpectedly, the flow is
    # replaced and the retry succeeds on a fresh one.
    current = built[-1]
    extra = await queue.enqueue({"n": 99})
    first = await queue.enqueue({"n": 98})
    await current.stop()
    results = [await queue.wait_result(j, timeout_s=10) for j in (extra, first)]
    worker.request_stop()
    await task
    assert [r.result for r in results] == [99, 98]
    assert len(built) == 3
    assert any(h[1] == "retry" and "FlowStateError" in h[2] for h in queue.history)
    assert all(f.state.value == "stopped" for f in built)


async def test_per_job_mode_builds_and_stops_a_flow_per_job() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)
    built: list[Any] = []

    async def work(message: Message, ctx: Any) -> str:
        return "x"

    ids = [await queue.enqueue({}) for _ in range(4)]
    worker = Worker(queue, single_node_factory(work, built), mode="per_job")
    await run_until_results(worker, queue, ids)
    assert len(built) == 4 and all(f.state.value == "stopped" for f in built)


async def test_graceful_stop_finishes_in_flight_jobs_and_leaves_the_rest(queue: Any) -> None:
    started = asyncio.Event()
    running = 0

    async def slow(message: Message, ctx: Any) -> str:
        nonlocal running
        running += 1
        if running == 2:
            started.set()
        await asyncio.sleep(0.3)
        return "done"

    ids = [await queue.enqueue({"i": i}) for i in range(5)]
    worker = Worker(queue, single_node_factory(slow), concurrency=2, shutdown_grace_s=10)
    task = asyncio.create_task(worker.run())
    await started.wait()
    worker.request_stop()
    stats = await task
    assert stats.completed == 2 and stats.handed_back == 0
    done = [j for j in ids if await queue.get_result(j) is not None]
    assert len(done) == 2


async def test_stop_after_grace_hands_in_flight_jobs_back(queue: Any) -> None:
    started = asyncio.Event()

    async def hang(message: Message, ctx: Any) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    job_id = await queue.enqueue({})
    worker = Worker(queue, single_node_factory(hang), shutdown_grace_s=0.1, job_timeout_s=None)
    task = asyncio.create_task(worker.run())
    await started.wait()
    worker.request_stop()
    stats = await task
    assert stats.handed_back == 1 and stats.completed == 0
    assert await queue.get_result(job_id) is None
    # The job is available again, with no attempt counted.
    again = None
    for _ in range(40):
        again = await queue.fetch()
        if again is not None:
            break
    assert again is not None and again.id == job_id and again.attempts == 0


async def test_second_stop_request_cancels_without_grace() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)
    started = asyncio.Event()

    async def hang(message: Message, ctx: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    await queue.enqueue({})
    worker = Worker(queue, single_node_factory(hang), shutdown_grace_s=3600, job_timeout_s=None)
    task = asyncio.create_task(worker.run())
    await started.wait()
    worker.request_stop()
    await asyncio.sleep(0.05)
    worker.request_stop()
    stats = await asyncio.wait_for(task, timeout=10)
    assert stats.handed_back == 1
    assert [h[1] for h in queue.history] == ["released"]


async def test_stream_chunks_are_skipped_and_the_final_result_is_the_job_result() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)

    async def streamer(message: Message, ctx: Any) -> Message:
        for word in ("a", "b"):
            await ctx.emit_chunk(parent=message, text=word)
        return message.model_copy(update={"payload": {"final": True}})

    job_id = await queue.enqueue({})
    worker = Worker(queue, single_node_factory(streamer))
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert result.result == {"final": True}


async def test_structured_logs_carry_job_trace_and_tenant(caplog: pytest.LogCaptureFixture) -> None:
    queue = InMemoryJobQueue(poll_s=0.05)

    async def work(message: Message, ctx: Any) -> int:
        return 1

    job_id = await queue.enqueue({}, tenant="acme", job_id="j-7")
    worker = Worker(queue, single_node_factory(work), worker_id="w-1")
    with caplog.at_level(logging.INFO, logger="penguiflow.worker"):
        await run_until_results(worker, queue, [job_id])
    done = [r for r in caplog.records if r.getMessage() == "job_completed"]
    assert len(done) == 1
    record: Any = done[0]
    assert (record.job_id, record.trace_id, record.tenant, record.worker_id) == (
        "j-7",
        "job-j-7",
        "acme",
        "w-1",
    )


async def test_stop_when_idle_returns_once_the_queue_is_empty() -> None:
    queue = InMemoryJobQueue(poll_s=0.02)

    async def work(message: Message, ctx: Any) -> int:
        return 1

    for _ in range(10):
        await queue.enqueue({})
    worker = Worker(queue, single_node_factory(work), concurrency=3)
    stats = await asyncio.wait_for(worker.run(stop_when_idle=True), timeout=10)
    assert stats.completed == 10 and queue.depth == 0 and queue.in_flight == 0


async def test_a_factory_returning_something_else_fails_the_job_without_retry() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)
    job_id = await queue.enqueue({})
    worker = Worker(queue, lambda: "not a flow", retry=RetryPolicy(max_attempts=3))  # type: ignore[arg-type,return-value]
    result = (await run_until_results(worker, queue, [job_id]))[job_id]
    assert result.status == "failed" and result.reason == "exception:ConfigError"


async def test_process_runs_one_fetched_job() -> None:
    queue = InMemoryJobQueue(poll_s=0.05)

    async def work(message: Message, ctx: Any) -> int:
        return 5

    await queue.enqueue({}, job_id="only")
    job = await queue.fetch()
    assert isinstance(job, Job)
    worker = Worker(queue, single_node_factory(work))
    await worker.process(job)
    result = await queue.get_result("only")
    assert result is not None and result.result == 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"job_timeout_s": 0}, "job_timeout_s"),
        ({"job_timeout_s": -1}, "job_timeout_s"),
        ({"shutdown_grace_s": float("nan")}, "shutdown_grace_s"),
        ({"mode": "forever"}, "mode"),
        ({"rebuild_after_jobs": 0}, "rebuild_after_jobs"),
    ],
)
def test_bad_worker_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    async def work(message: Message, ctx: Any) -> None:
        return None

    with pytest.raises(ConfigError, match=match):
        Worker(InMemoryJobQueue(), single_node_factory(work), **kwargs)


def test_bad_queue_and_policy_are_refused() -> None:
    with pytest.raises(ConfigError, match="JobQueue"):
        Worker(object(), lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError, match="backoff_mult"):
        RetryPolicy(backoff_mult=0.5)


async def test_a_worker_runs_once() -> None:
    queue = InMemoryJobQueue(poll_s=0.01)

    async def work(message: Message, ctx: Any) -> None:
        return None

    worker = Worker(queue, single_node_factory(work))
    await worker.run(stop_when_idle=True)
    with pytest.raises(ConfigError, match="runs once"):
        await worker.run()


async def test_a_job_fetched_while_a_forced_stop_arrives_is_handed_back_unrun() -> None:
    ran: list[int] = []

    async def work(message: Message, ctx: Any) -> int:
        ran.append(1)
        return 1

    class StopsDuringFetch(InMemoryJobQueue):
        async def fetch(self) -> Any:
            job = await super().fetch()
            if job is not None:
                # The fetch was under way when the worker was stopped without grace.
                worker.request_stop()
                worker.request_stop()
            return job

    queue = StopsDuringFetch(poll_s=0.05)
    job_id = await queue.enqueue({"n": 1})
    worker = Worker(queue, single_node_factory(work))
    stats = await worker.run()
    assert ran == []
    assert worker.in_flight == 0
    assert (job_id, "released", "worker_stopping") in queue.history
    assert stats.handed_back == 1 and queue.depth == 1


async def test_a_job_that_cancels_its_own_task_fails_that_attempt_and_the_lane_goes_on() -> None:
    queue = InMemoryJobQueue(poll_s=0.02)
    attempts: list[int] = []

    async def work(message: Message, ctx: Any) -> str:
        attempts.append(message.meta["attempt"])
        if message.payload["rude"] and message.meta["attempt"] == 0:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(1)
        return "ok"

    rude = await queue.enqueue({"rude": True})
    polite = await queue.enqueue({"rude": False})
    worker = Worker(
        queue,
        single_node_factory(work),
        concurrency=1,  # one lane: it must survive the cancel to run the other jobs
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01),
        mode="long_lived",
    )
    results = await run_until_results(worker, queue, [rude, polite])
    assert results[rude].status == "completed" and results[rude].attempts == 2
    assert results[polite].status == "completed"
    assert ("retry", "exception:JobCancelledError") in [(h[1], h[2]) for h in queue.history]
    assert worker.stats.retried == 1 and worker.stats.completed == 2


async def test_a_queue_subclass_that_overrides_mark_complete_is_called_through_it() -> None:
    recorded: list[str] = []

    class Recording(InMemoryJobQueue):
        async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
            recorded.append(job_id)
            await super().mark_complete(job_id, result=result, latency_s=latency_s)

    async def work(message: Message, ctx: Any) -> int:
        return 1

    queue = Recording(poll_s=0.02)
    ids = [await queue.enqueue({}) for _ in range(3)]
    stats = await Worker(queue, single_node_factory(work)).run(stop_when_idle=True)
    assert stats.completed == 3 and sorted(recorded) == sorted(ids)


async def test_jobs_that_never_wait_do_not_starve_other_tasks() -> None:
    queue = InMemoryJobQueue(poll_s=0.01)
    ticks = 0
    seen: list[int] = []

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def instant(message: Message, ctx: Any) -> int:
        seen.append(ticks)  # how often the other task ran so far
        return 1  # never suspends

    for _ in range(640):
        await queue.enqueue({})
    ticker = asyncio.create_task(tick())
    worker = Worker(queue, single_node_factory(instant), concurrency=1, mode="long_lived")
    stats = await worker.run(stop_when_idle=True)
    ticker.cancel()
    assert stats.completed == 640
    assert len(set(seen)) >= 640 // 32  # the loop turned at least every 32 jobs


async def test_a_completion_the_queue_fails_to_record_is_counted_as_a_report_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unrecording(InMemoryJobQueue):
        def complete_soon(
            self, job_id: str, *, result: Any, latency_s: float, on_done: Any
        ) -> None:
            self._take(job_id)  # gone from the queue's hands, never recorded
            if job_id == "raises":
                raise QueueBackendError("mark_complete", "mem", "refused at once")
            on_done(job_id, QueueBackendError("mark_complete", "mem", "lost later"))

    async def work(message: Message, ctx: Any) -> int:
        return 1

    queue = Unrecording(poll_s=0.02)
    await queue.enqueue({}, job_id="later")
    await queue.enqueue({}, job_id="raises")
    with caplog.at_level(logging.ERROR, logger="penguiflow.worker"):
        stats = await Worker(queue, single_node_factory(work)).run(stop_when_idle=True)
    assert stats.completed == 0 and stats.report_errors == 2
    failed = sorted(r.job_id for r in caplog.records if r.getMessage() == "job_report_failed")  # type: ignore[attr-defined]
    assert failed == ["later", "raises"]


async def test_a_report_that_never_ends_does_not_hold_up_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import penguiflow.scaleout.worker as worker_module

    monkeypatch.setattr(worker_module, "_REPORT_GRACE_S", 0.2)
    reporting = asyncio.Event()

    class StuckRetries(InMemoryJobQueue):
        async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
            reporting.set()
            await asyncio.Event().wait()  # the backend never answers

    async def boom(message: Message, ctx: Any) -> None:
        raise RuntimeError("node failed")

    queue = StuckRetries(poll_s=0.02)
    await queue.enqueue({})
    worker = Worker(queue, single_node_factory(boom), shutdown_grace_s=0)
    task = asyncio.create_task(worker.run())
    await reporting.wait()
    worker.request_stop()
    stats = await asyncio.wait_for(task, timeout=5)
    assert stats.report_errors == 1 and stats.retried == 0
    assert worker.state is WorkerState.STOPPED


async def test_a_failing_fetch_nowait_falls_back_to_fetch() -> None:
    class Broken(InMemoryJobQueue):
        def fetch_nowait(self) -> Any:
            raise RuntimeError("bug in the fast path")

    async def work(message: Message, ctx: Any) -> int:
        return 1

    queue = Broken(poll_s=0.02)
    ids = [await queue.enqueue({}) for _ in range(5)]
    stats = await Worker(queue, single_node_factory(work), concurrency=2).run(stop_when_idle=True)
    assert stats.completed == 5 and stats.fetched == 5
    assert [await queue.get_result(i) is not None for i in ids] == [True] * 5


class MinimalQueue:
    """Only the ``JobQueue`` contract: no release, no read-ahead, no batched completions."""

    def __init__(self) -> None:
        self.inner = InMemoryJobQueue(poll_s=0.02)
        self.calls: list[tuple[str, str]] = []

    async def fetch(self) -> Job | None:
        return await self.inner.fetch()

    async def mark_complete(self, job_id: str, *, result: Any, latency_s: float) -> None:
        self.calls.append(("mark_complete", job_id))
        await self.inner.mark_complete(job_id, result=result, latency_s=latency_s)

    async def retry_job(self, job_id: str, *, delay_s: float, reason: str) -> None:
        self.calls.append(("retry_job", f"{job_id} {delay_s:g} {reason}"))
        await self.inner.retry_job(job_id, delay_s=delay_s, reason=reason)

    async def mark_failed(self, job_id: str, *, reason: str, details: Any = None) -> None:
        self.calls.append(("mark_failed", job_id))
        await self.inner.mark_failed(job_id, reason=reason, details=details)


async def test_a_queue_with_only_the_base_contract_is_served_through_it() -> None:
    queue = MinimalQueue()
    assert isinstance(queue, JobQueue)
    assert not isinstance(queue, ReleasableJobQueue | ReadAheadJobQueue | BatchingJobQueue)
    started = asyncio.Event()

    async def work(message: Message, ctx: Any) -> str:
        if message.payload["hang"]:
            started.set()
            await asyncio.sleep(3600)
        return "done"

    quick = await queue.inner.enqueue({"hang": False}, job_id="quick")
    await queue.inner.enqueue({"hang": True}, job_id="stuck")
    worker = Worker(queue, single_node_factory(work), concurrency=2, shutdown_grace_s=0.1)
    task = asyncio.create_task(worker.run())
    result = await queue.inner.wait_result(quick, timeout_s=10)
    await started.wait()
    worker.request_stop()
    stats = await task
    assert result.result == "done" and stats.completed == 1 and stats.handed_back == 1
    # Without release, a job is handed back as a retry due at once (an attempt counted).
    assert sorted(queue.calls) == [
        ("mark_complete", "quick"),
        ("retry_job", "stuck 0 worker_shutdown"),
    ]


async def test_one_lane_at_a_time_asks_the_queue_for_a_job() -> None:
    class CountsFetches(InMemoryJobQueue):
        fetching = 0
        most = 0

        async def fetch(self) -> Job | None:
            self.fetching += 1
            self.most = max(self.most, self.fetching)
            try:
                await asyncio.sleep(0.002)
                return await super().fetch()
            finally:
                self.fetching -= 1

    async def work(message: Message, ctx: Any) -> int:
        await asyncio.sleep(0.01)
        return 1

    queue = CountsFetches(poll_s=0.02)
    for _ in range(12):
        await queue.enqueue({})
    worker = Worker(queue, single_node_factory(work), concurrency=4)
    stats = await asyncio.wait_for(worker.run(stop_when_idle=True), timeout=10)
    assert stats.completed == 12 and queue.most == 1


async def test_a_cancelled_run_hands_its_running_jobs_back() -> None:
    queue = InMemoryJobQueue(poll_s=0.02)
    started = asyncio.Event()

    async def hang(message: Message, ctx: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    job_id = await queue.enqueue({})
    worker = Worker(queue, single_node_factory(hang), concurrency=2, job_timeout_s=None)
    task = asyncio.create_task(worker.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.state is WorkerState.STOPPED and worker.in_flight == 0
    assert queue.history == [(job_id, "released", "worker_shutdown")]
    assert worker.stats.handed_back == 1 and queue.depth == 1


async def test_jobs_a_queue_read_ahead_are_taken_without_asking_it_again() -> None:
    class ReadsAhead(InMemoryJobQueue):
        """Reads up to four jobs per fetch; hands out the extra ones with fetch_nowait."""

        def __init__(self) -> None:
            super().__init__(poll_s=0.02)
            self.ahead: deque[Job] = deque()
            self.fetches = 0

        async def fetch(self) -> Job | None:
            if self.ahead:
                return self.ahead.popleft()
            self.fetches += 1
            job = await super().fetch()
            while job is not None and len(self.ahead) < 3 and self.depth:
                extra = await super().fetch()
                assert extra is not None
                self.ahead.append(extra)
            return job

        def fetch_nowait(self) -> Job | None:
            return self.ahead.popleft() if self.ahead else None

    async def work(message: Message, ctx: Any) -> int:
        return int(message.payload["n"])

    queue = ReadsAhead()
    assert isinstance(queue, ReadAheadJobQueue)
    ids = [await queue.enqueue({"n": n}) for n in range(20)]
    worker = Worker(queue, single_node_factory(work), concurrency=2, mode="long_lived")
    stats = await asyncio.wait_for(worker.run(stop_when_idle=True), timeout=10)
    assert stats.completed == 20 and stats.fetched == 20
    assert queue.fetches <= 6  # 5 reads of four jobs, and the one that found none
    assert [(await queue.wait_result(i, timeout_s=1)).result for i in ids] == list(range(20))
