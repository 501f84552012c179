"""RedisJobQueue against a real redis-server: acks, leases, reclaim, retries, dead letters."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_proxy import RedisProxy

from penguiflow.errors import ConfigError
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import (
    BatchingJobQueue,
    Job,
    JobQueue,
    QueueBackendError,
    ReadAheadJobQueue,
    ReleasableJobQueue,
)


def make(url: str, name: str, **options: Any) -> RedisJobQueue:
    options.setdefault("block_s", 0.05)
    return RedisJobQueue(url, name=name, **options)


async def fetch_one(queue: RedisJobQueue, *, tries: int = 40) -> Job:
    for _ in range(tries):
        job = await queue.fetch()
        if job is not None:
            return job
    raise AssertionError("no job arrived")


async def script_calls(redis_url: str) -> int:
    """How many ``EVALSHA`` calls the server ran so far (every queue outcome is one)."""
    admin = Redis.from_url(redis_url, decode_responses=True)
    try:
        stats = await admin.info("commandstats")
    finally:
        await admin.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_roundtrip_stores_result_and_removes_the_job(redis_url: str, queue_name: str) -> None:
    async with make(redis_url, queue_name) as queue:
        assert isinstance(queue, JobQueue) and isinstance(queue, ReleasableJobQueue)
        job_id = await queue.enqueue({"x": 1}, tenant="acme", job_id="j1")
        job = await fetch_one(queue)
        assert (job.id, job.tenant, job.payload, job.attempts) == ("j1", "acme", {"x": 1}, 0)
        counts = await queue.counts()
        assert (counts.ready, counts.pending) == (0, 1)
        await queue.mark_complete(job_id, result={"y": 2}, latency_s=0.01)
        result = await queue.get_result(job_id)
        assert result is not None and result.status == "completed" and result.result == {"y": 2}
        counts = await queue.counts()
        assert (counts.ready, counts.pending, counts.completed) == (0, 0, 1)
        assert await queue.fetch() is None


async def test_non_ascii_payloads_and_results_survive_the_round_trip(
    redis_url: str, queue_name: str
) -> None:
    text = "Grüße, 東京 \u2014 \U0001f427 \x00 end"
    async with make(redis_url, queue_name) as queue:
        job_id = await queue.enqueue({"text": text}, tenant="tenant-é", job_id="ünï")
        job = await fetch_one(queue)
        assert (job.id, job.tenant, job.payload) == (job_id, "tenant-é", {"text": text})
        await queue.mark_complete(job.id, result={"echo": text}, latency_s=0.5)
        result = await queue.get_result(job_id)
        assert result is not None and result.status == "completed"
        assert result.result == {"echo": text}


async def test_a_dead_workers_job_is_reclaimed_and_its_late_report_is_refused(
    redis_url: str, queue_name: str
) -> None:
    async with RedisProxy(redis_url) as proxy:
        dead = make(proxy.url, queue_name, visibility_timeout_s=0.3, consumer="dead")
        alive = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="alive")
        try:
            await dead.enqueue({"n": 1}, job_id="j1")
            job = await fetch_one(dead)
            proxy.freeze()  # the dead worker stops renewing its lease (it is stuck, or gone)
            reclaimed = await fetch_one(alive)
            assert reclaimed.id == job.id and reclaimed.attempts == 1
            # The stale worker wakes up and reports: nothing changes.
            proxy.thaw()
            await dead.mark_complete(job.id, result="stale", latency_s=1.0)
            assert await alive.get_result(job.id) is None
            await alive.mark_complete(job.id, result="fresh", latency_s=0.1)
            result = await alive.get_result(job.id)
            assert result is not None and result.result == "fresh" and result.attempts == 2
            counts = await alive.counts()
            assert (counts.completed, counts.pending, counts.ready) == (1, 0, 0)
        finally:
            proxy.thaw()
            await dead.aclose()
            await alive.aclose()


async def test_a_live_worker_keeps_its_lease(redis_url: str, queue_name: str) -> None:
    async with (
        make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="a") as a,
        make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b") as b,
    ):
        await a.enqueue({}, job_id="long")
        await fetch_one(a)
        for _ in range(15):  # 15 x 50 ms = 2.5 visibility timeouts
            assert await b.fetch() is None
        await a.mark_complete("long", result=1, latency_s=1.0)
        assert (await a.counts()).completed == 1


async def test_retry_delays_and_counts_attempts(redis_url: str, queue_name: str) -> None:
    async with make(redis_url, queue_name) as queue:
        await queue.enqueue({}, job_id="r1")
        job = await fetch_one(queue)
        await queue.retry_job(job.id, delay_s=0.4, reason="exception:Boom")
        counts = await queue.counts()
        assert (counts.delayed, counts.retried) == (1, 1)
        assert await queue.fetch() is None  # not due yet
        again = await fetch_one(queue)
        assert (
            again.id == "r1"
            and again.attempts == 1
            and again.meta["last_error"] == "exception:Boom"
        )
        await queue.release(again.id, reason="worker_shutdown")
        released = await fetch_one(queue)
        assert released.attempts == 1  # a hand-back is not an attempt
        await queue.mark_failed(released.id, reason="gave_up", details={"why": "test"})
        result = await queue.get_result("r1")
        assert (
            result is not None and result.status == "failed" and result.details == {"why": "test"}
        )
        dead = await queue.dead_letters()
        assert [d.job_id for d in dead] == ["r1"]


async def test_a_job_that_keeps_killing_workers_is_failed(redis_url: str, queue_name: str) -> None:
    async with RedisProxy(redis_url) as first_link, RedisProxy(redis_url) as second_link:
        links = [first_link, second_link]
        queues = [
            make(url, queue_name, visibility_timeout_s=0.2, max_deliveries=2, consumer=f"c{i}")
            for i, url in enumerate([first_link.url, second_link.url, redis_url])
        ]
        try:
            await queues[0].enqueue({}, job_id="poison")
            await fetch_one(queues[0])
            first_link.freeze()  # the job killed its first worker
            second = await fetch_one(queues[1])
            assert second.attempts == 1
            second_link.freeze()  # and the second one
            for _ in range(30):  # the third delivery is not handed out: the job is failed
                assert await queues[2].fetch() is None
                if await queues[2].get_result("poison") is not None:
                    break
            result = await queues[2].get_result("poison")
            assert result is not None and result.reason == "max_deliveries_exceeded"
            assert (await queues[2].counts()).pending == 0
        finally:
            for link in links:
                link.thaw()
            for queue in queues:
                await queue.aclose()


async def test_only_the_fetching_worker_can_settle_a_job(redis_url: str, queue_name: str) -> None:
    async with make(redis_url, queue_name) as queue:
        with pytest.raises(ConfigError, match="not in flight"):
            await queue.mark_complete("never-fetched", result=None, latency_s=0)


async def test_enqueue_many_and_delayed_enqueue(redis_url: str, queue_name: str) -> None:
    async with make(redis_url, queue_name) as queue:
        ids = await queue.enqueue_many([{"i": i} for i in range(5)], tenant="t")
        later = await queue.enqueue({"late": True}, delay_s=0.3)
        seen = [(await fetch_one(queue)).id for _ in range(5)]
        assert seen == ids
        assert (await fetch_one(queue)).id == later


async def test_backend_failures_raise_queue_backend_error() -> None:
    from pg_service import free_port

    queue = RedisJobQueue(f"redis://127.0.0.1:{free_port()}/0", name="gone", block_s=0.05)
    try:
        with pytest.raises(QueueBackendError) as info:
            await queue.fetch()
        assert info.value.operation == "fetch" and info.value.queue == "gone"
        copy = pickle.loads(pickle.dumps(info.value))
        assert (copy.operation, copy.queue) == ("fetch", "gone")
    finally:
        await queue.aclose()


async def test_a_server_that_never_answers_is_a_backend_error_after_command_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        held.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    queue = RedisJobQueue(
        f"redis://127.0.0.1:{port}/0", name="mute", block_s=0.05, command_timeout_s=0.3
    )
    try:
        with pytest.raises(QueueBackendError, match="no answer within") as info:
            await asyncio.wait_for(queue.fetch(), 10)
        assert info.value.operation == "fetch"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the bound's cancel withdrawn
    finally:
        server.close()
        for writer in held:
            writer.close()
        await queue.aclose()


async def test_closed_queue_refuses_calls(redis_url: str, queue_name: str) -> None:
    queue = make(redis_url, queue_name)
    await queue.aclose()
    await queue.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await queue.enqueue({})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"url": "redis://x", "name": "a{b}"}, "braces"),
        ({"url": "redis://x", "visibility_timeout_s": 0}, "visibility_timeout_s"),
        ({"url": "redis://x", "max_deliveries": 0}, "max_deliveries"),
        ({"url": "redis://x", "block_s": -1}, "block_s"),
        ({"client": object()}, "connection pool"),
    ],
)
def test_bad_queue_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RedisJobQueue(**kwargs)


async def test_concurrent_fetchers_never_share_a_job(redis_url: str, queue_name: str) -> None:
    queues = [make(redis_url, queue_name, consumer=f"w{i}") for i in range(4)]
    try:
        await queues[0].enqueue_many([{"i": i} for i in range(60)])

        async def drain(queue: RedisJobQueue) -> list[str]:
            got = []
            while True:
                job = await queue.fetch()
                if job is None:
                    return got
                got.append(job.id)
                await queue.mark_complete(job.id, result=None, latency_s=0)

        batches = await asyncio.gather(*(drain(q) for q in queues))
        ids = [i for batch in batches for i in batch]
        assert len(ids) == 60 and len(set(ids)) == 60
        assert (await queues[0].counts()).completed == 60
    finally:
        for queue in queues:
            await queue.aclose()


async def test_completions_made_together_share_a_script_call_and_each_gets_its_outcome(
    redis_url: str, queue_name: str
) -> None:
    # a's leases outlive the test; b takes over jobs idle for 0.3 s: a looks stalled to b.
    a = make(redis_url, queue_name, visibility_timeout_s=60, consumer="a", prefetch=4)
    b = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b")
    try:
        await a.enqueue({"warm": True}, job_id="warm-up")
        await a.mark_complete((await fetch_one(a)).id, result=None, latency_s=0)
        ids = await a.enqueue_many([{"i": i} for i in range(4)])
        jobs = [await fetch_one(a) for _ in range(4)]
        taken = await fetch_one(b)
        assert taken.id in ids
        await b.mark_complete(taken.id, result="b", latency_s=0.1)  # (b then holds nothing)

        before = await script_calls(redis_url)
        await asyncio.gather(
            *(a.mark_complete(job.id, result=job.payload["i"], latency_s=0.1) for job in jobs)
        )
        assert await script_calls(redis_url) - before == 1  # four completions, one call
        for job in jobs:
            result = await b.get_result(job.id)
            assert result is not None
            # a's late completion of the job b took over changed nothing.
            assert result.result == ("b" if job.id == taken.id else job.payload["i"])
        counts = await b.counts()
        assert (counts.completed, counts.pending, counts.ready) == (5, 0, 0)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_worker_cut_off_with_completions_unsent_loses_no_job(
    redis_url: str, queue_name: str
) -> None:
    async with RedisProxy(redis_url) as proxy:
        a = make(proxy.url, queue_name, visibility_timeout_s=0.3, consumer="a", prefetch=3)
        b = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b")
        try:
            ids = await a.enqueue_many([{"i": i} for i in range(3)])
            jobs = [await fetch_one(a) for _ in range(3)]
            proxy.freeze()  # a's completions and lease renewals never reach Redis
            pending = [
                asyncio.create_task(a.mark_complete(job.id, result="a", latency_s=0.1))
                for job in jobs
            ]
            await asyncio.sleep(0.05)
            assert not any(task.done() for task in pending)

            redelivered = {}
            for _ in range(3):
                job = await fetch_one(b)
                redelivered[job.id] = job
                await b.mark_complete(job.id, result="b", latency_s=0.1)
            assert sorted(redelivered) == sorted(ids)
            assert all(job.attempts == 1 for job in redelivered.values())

            proxy.thaw()  # a's completions arrive late: refused, b's results stand
            await asyncio.gather(*pending)
            for job_id in ids:
                result = await b.get_result(job_id)
                assert result is not None and result.result == "b" and result.attempts == 2
            counts = await b.counts()
            assert (counts.completed, counts.pending, counts.ready) == (3, 0, 0)
        finally:
            proxy.thaw()
            await a.aclose()
            await b.aclose()


async def test_a_connection_dropped_by_the_server_is_replaced(
    redis_url: str, queue_name: str
) -> None:
    from redis.asyncio import Redis

    admin = Redis.from_url(redis_url, decode_responses=True)
    try:
        async with make(redis_url, queue_name) as queue:
            await queue.enqueue_many([{"i": 1}, {"i": 2}])
            first = await fetch_one(queue)
            await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await queue.mark_complete(first.id, result=1, latency_s=0.1)
            await admin.script_flush()  # and the server forgets the queue's scripts
            second = await fetch_one(queue)
            await queue.mark_complete(second.id, result=2, latency_s=0.1)
            for job, value in ((first, 1), (second, 2)):
                result = await queue.get_result(job.id)
                assert result is not None and result.result == value
            counts = await queue.counts()
            assert (counts.completed, counts.pending, counts.ready) == (2, 0, 0)
    finally:
        await admin.aclose()


async def test_prefetched_jobs_are_leased_to_their_worker_and_handed_back_on_close(
    redis_url: str, queue_name: str
) -> None:
    queue = make(redis_url, queue_name, prefetch=4)
    observer = make(redis_url, queue_name)
    try:
        await queue.enqueue_many([{"i": i} for i in range(10)])
        first = await fetch_one(queue)  # one read of 4: three wait in the worker
        counts = await observer.counts()
        assert (counts.pending, counts.ready) == (4, 6)
        await queue.mark_complete(first.id, result=None, latency_s=0)
        await queue.aclose()  # never started: handed back at once, no attempt counted
        counts = await observer.counts()
        assert (counts.completed, counts.pending, counts.ready, counts.released) == (1, 0, 9, 3)
        seen = []
        while (job := await observer.fetch()) is not None:
            seen.append(job.attempts)
            await observer.mark_complete(job.id, result=None, latency_s=0)
        assert seen == [0] * 9
    finally:
        await queue.aclose()
        await observer.aclose()


async def test_jobs_read_ahead_keep_their_lease_while_they_wait(
    redis_url: str, queue_name: str
) -> None:
    async with (
        make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="a", prefetch=3) as a,
        make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b") as b,
    ):
        await a.enqueue_many([{"i": i} for i in range(3)])
        first = await fetch_one(a)
        for _ in range(15):  # 15 x 50 ms = 2.5 visibility timeouts: b takes none of them
            assert await b.fetch() is None
        rest = [a.fetch_nowait(), a.fetch_nowait()]
        assert all(job is not None and job.attempts == 0 for job in rest)
        for job in (first, *rest):
            assert job is not None
            await a.mark_complete(job.id, result=None, latency_s=0)
        assert (await a.counts()).completed == 3


async def test_an_unreadable_job_is_failed_and_the_next_one_is_served(
    redis_url: str, queue_name: str
) -> None:
    from redis.asyncio import Redis

    async with make(redis_url, queue_name, prefetch=4) as queue:
        await queue.enqueue({"i": 0}, job_id="before")
        raw = Redis.from_url(redis_url, decode_responses=True)
        try:
            entry = await raw.xadd(f"penguiflow:jobs:{{{queue_name}}}:stream", {"job": "[1, 2]"})
        finally:
            await raw.aclose()
        await queue.enqueue({"i": 1}, job_id="after")
        first = await fetch_one(queue)  # one read of the three entries
        assert first.id == "before"
        assert queue.fetch_nowait() is None  # the unreadable one is next: fetch() fails it
        assert (await fetch_one(queue)).id == "after"
        failed = await queue.get_result(f"unreadable-{entry}")
        assert failed is not None and failed.status == "failed"
        assert failed.reason == "unreadable_job"


async def test_jobs_read_ahead_are_handed_out_and_completed_without_waiting(
    redis_url: str, queue_name: str
) -> None:
    async with make(redis_url, queue_name, prefetch=3) as queue:
        assert isinstance(queue, BatchingJobQueue) and isinstance(queue, ReadAheadJobQueue)
        assert queue.fetch_nowait() is None  # nothing read yet: fetch() reads
        await queue.enqueue_many([{"i": i} for i in range(3)])
        first = await fetch_one(queue)
        rest = [queue.fetch_nowait(), queue.fetch_nowait()]  # from the same read
        assert all(job is not None for job in rest) and queue.fetch_nowait() is None
        jobs = [first, *(job for job in rest if job is not None)]
        settled: list[tuple[str, BaseException | None]] = []
        done = asyncio.Event()

        def on_done(job_id: str, error: BaseException | None) -> None:
            settled.append((job_id, error))
            if len(settled) == len(jobs):
                done.set()

        for job in jobs:
            queue.complete_soon(job.id, result=job.payload["i"], latency_s=0.1, on_done=on_done)
        assert settled == []  # handed over: recorded with the next round trip
        await asyncio.wait_for(done.wait(), timeout=5)
        assert sorted(settled, key=lambda s: s[0]) == sorted((j.id, None) for j in jobs)
        for job in jobs:
            result = await queue.get_result(job.id)
            assert result is not None and result.result == job.payload["i"]
        with pytest.raises(ConfigError, match="not in flight"):
            queue.complete_soon(first.id, result=None, latency_s=0, on_done=on_done)


async def test_completions_handed_over_during_a_call_leave_together_in_the_next(
    redis_url: str, queue_name: str
) -> None:
    async with make(redis_url, queue_name, prefetch=50) as queue:
        await queue.enqueue({"warm": True})
        await queue.mark_complete((await fetch_one(queue)).id, result=None, latency_s=0)
        await queue.enqueue_many([{"i": i} for i in range(50)])
        jobs = [await fetch_one(queue)]
        while (job := queue.fetch_nowait()) is not None:
            jobs.append(job)
        assert len(jobs) == 50
        recorded: list[str] = []
        all_recorded = asyncio.Event()

        def on_done(job_id: str, error: BaseException | None) -> None:
            assert error is None
            recorded.append(job_id)
            if len(recorded) == len(jobs):
                all_recorded.set()

        before = await script_calls(redis_url)
        for n, job in enumerate(jobs):
            queue.complete_soon(job.id, result=n, latency_s=0, on_done=on_done)
            if n % 10 == 9:
                await asyncio.sleep(0)  # the first ones leave; the others wait for them
        await asyncio.wait_for(all_recorded.wait(), timeout=10)
        assert sorted(recorded) == sorted(job.id for job in jobs)
        assert await script_calls(redis_url) - before < 10  # batches, not one call per job
        for n, job in enumerate(jobs):
            result = await queue.get_result(job.id)
            assert result is not None and result.result == n
        assert (await queue.counts()).completed == 51


async def test_a_completion_whose_call_fails_reports_a_backend_error(
    redis_url: str, queue_name: str
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    async with RedisProxy(redis_url) as proxy:
        async with make(proxy.url, queue_name) as queue:
            await queue.enqueue_many([{"i": 1}, {"i": 2}])
            first, second = await fetch_one(queue), await fetch_one(queue)
            proxy.cut()  # Redis goes away
            errors: list[BaseException | None] = []
            done = asyncio.Event()

            def on_done(job_id: str, error: BaseException | None) -> None:
                errors.append(error)
                done.set()

            queue.complete_soon(first.id, result=1, latency_s=0.1, on_done=on_done)
            await asyncio.wait_for(done.wait(), timeout=10)
            assert isinstance(errors[0], QueueBackendError)
            assert errors[0].operation == "mark_complete"
            assert isinstance(errors[0].__cause__, RedisConnectionError)
            with pytest.raises(QueueBackendError, match="ConnectionError"):
                await queue.mark_complete(second.id, result=2, latency_s=0.1)
            proxy.restore()
            counts = await queue.counts()
            assert counts.pending == 2  # neither recorded: both will be redelivered
