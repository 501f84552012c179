"""RedisJobQueue against a real redis-server: acks, leases, reclaim, retries, dead letters."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest

from penguiflow.errors import ConfigError
from penguiflow.scaleout._redis_scripts import SHA
from penguiflow.scaleout.redis_queue import RedisJobQueue
from penguiflow.scaleout.worker import (
    BatchingJobQueue,
    Job,
    JobQueue,
    QueueBackendError,
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
    dead = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="dead")
    alive = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="alive")
    try:
        await dead.enqueue({"n": 1}, job_id="j1")
        job = await fetch_one(dead)
        # The dead worker stops renewing its lease (it is stuck, or gone).
        assert dead._heartbeat is not None
        dead._heartbeat.cancel()
        reclaimed = await fetch_one(alive)
        assert reclaimed.id == job.id and reclaimed.attempts == 1
        # The stale worker wakes up and reports: nothing changes.
        await dead.mark_complete(job.id, result="stale", latency_s=1.0)
        assert await alive.get_result(job.id) is None
        await alive.mark_complete(job.id, result="fresh", latency_s=0.1)
        result = await alive.get_result(job.id)
        assert result is not None and result.result == "fresh" and result.attempts == 2
        counts = await alive.counts()
        assert (counts.completed, counts.pending, counts.ready) == (1, 0, 0)
    finally:
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
    queues = [
        make(redis_url, queue_name, visibility_timeout_s=0.2, max_deliveries=2, consumer=f"c{i}")
        for i in range(3)
    ]
    try:
        await queues[0].enqueue({}, job_id="poison")
        await fetch_one(queues[0])
        queues[0]._heartbeat.cancel()  # type: ignore[union-attr]
        second = await fetch_one(queues[1])
        assert second.attempts == 1
        queues[1]._heartbeat.cancel()  # type: ignore[union-attr]
        for _ in range(30):  # the third delivery is not handed out: the job is failed
            assert await queues[2].fetch() is None
            if await queues[2].get_result("poison") is not None:
                break
        result = await queues[2].get_result("poison")
        assert result is not None and result.reason == "max_deliveries_exceeded"
        assert (await queues[2].counts()).pending == 0
    finally:
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


async def test_completions_made_together_share_a_round_trip_and_each_gets_its_outcome(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="a", prefetch=4)
    b = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b")
    try:
        ids = await a.enqueue_many([{"i": i} for i in range(4)])
        jobs = [await fetch_one(a) for _ in range(4)]
        assert a._heartbeat is not None
        a._heartbeat.cancel()  # a stalls: b takes one of its jobs over
        taken = await fetch_one(b)
        assert taken.id in ids

        round_trips: list[int] = []
        send = a._link.round_trip

        async def counted(commands: Any) -> Any:
            round_trips.append(len(commands))
            return await send(commands)

        monkeypatch.setattr(a._link, "round_trip", counted)
        await asyncio.gather(
            *(a.mark_complete(job.id, result=job.payload["i"], latency_s=0.1) for job in jobs)
        )
        assert len(round_trips) == 1  # four completions, one script call, one round trip
        for job in jobs:
            result = await b.get_result(job.id)
            if job.id == taken.id:
                assert result is None  # a's late completion of it changed nothing
            else:
                assert result is not None and result.result == job.payload["i"]
        assert (await b.counts()).completed == 3
        await b.mark_complete(taken.id, result="b", latency_s=0.1)
        counts = await b.counts()
        assert (counts.completed, counts.pending, counts.ready) == (4, 0, 0)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_worker_that_dies_with_completions_unsent_loses_no_job(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="a", prefetch=3)
    b = make(redis_url, queue_name, visibility_timeout_s=0.3, consumer="b")
    try:
        ids = await a.enqueue_many([{"i": i} for i in range(3)])
        jobs = [await fetch_one(a) for _ in range(3)]
        never = asyncio.Event()

        async def stuck(commands: Any) -> Any:
            await never.wait()  # the process dies before the batch leaves

        monkeypatch.setattr(a._link, "round_trip", stuck)
        pending = [
            asyncio.create_task(a.mark_complete(job.id, result="a", latency_s=0.1)) for job in jobs
        ]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in pending)
        # a dies: no more renewals, and its batch of completions never reaches Redis.
        assert a._heartbeat is not None and a._exchange._flusher is not None
        a._heartbeat.cancel()
        a._exchange._flusher.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

        redelivered = {}
        for _ in range(3):
            job = await fetch_one(b)
            redelivered[job.id] = job
            await b.mark_complete(job.id, result="b", latency_s=0.1)
        assert sorted(redelivered) == sorted(ids)
        assert all(job.attempts == 1 for job in redelivered.values())
        for job_id in ids:
            result = await b.get_result(job_id)
            assert result is not None and result.result == "b" and result.attempts == 2
        counts = await b.counts()
        assert (counts.completed, counts.pending, counts.ready) == (3, 0, 0)
    finally:
        monkeypatch.undo()
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


async def test_prefetched_jobs_are_topped_up_by_completions_and_handed_back_on_close(
    redis_url: str, queue_name: str
) -> None:
    queue = make(redis_url, queue_name, prefetch=4)
    observer = make(redis_url, queue_name)
    try:
        await queue.enqueue_many([{"i": i} for i in range(10)])
        jobs = [await fetch_one(queue) for _ in range(4)]  # one read of 4
        counts = await observer.counts()
        assert (counts.pending, counts.ready) == (4, 6)
        await asyncio.gather(*(queue.mark_complete(j.id, result=None, latency_s=0) for j in jobs))
        # The completions brought back as many jobs as were handed out, at most
        # prefetch - 1: they wait in the worker, leased to it.
        counts = await observer.counts()
        assert (counts.completed, counts.pending, counts.ready) == (4, 3, 3)
        await queue.aclose()  # never started: handed back at once, no attempt counted
        counts = await observer.counts()
        assert (counts.pending, counts.ready, counts.released) == (0, 6, 3)
        seen = []
        while (job := await observer.fetch()) is not None:
            seen.append(job.attempts)
            await observer.mark_complete(job.id, result=None, latency_s=0)
        assert seen == [0] * 6
    finally:
        await queue.aclose()
        await observer.aclose()


async def test_a_prefetching_queue_sends_completions_with_its_next_read(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make(redis_url, queue_name, prefetch=2) as queue:
        await queue.enqueue_many([{"i": i} for i in range(4)])
        first = await fetch_one(queue)
        second = await fetch_one(queue)  # from the same read

        round_trips: list[list[str]] = []
        send = queue._link.round_trip

        async def recorded(commands: Any) -> Any:
            names = {SHA["COMPLETE"]: "COMPLETE", SHA["PROMOTE"]: "PROMOTE"}
            round_trips.append([names.get(str(c[1]), str(c[0])) for c in commands])
            return await send(commands)

        monkeypatch.setattr(queue._link, "round_trip", recorded)
        done = asyncio.gather(
            queue.mark_complete(first.id, result=1, latency_s=0.1),
            queue.mark_complete(second.id, result=2, latency_s=0.1),
        )
        third = await fetch_one(queue)  # the worker needs more jobs: one round trip
        await done
        assert [c for c in round_trips[0] if c != "PROMOTE"] == ["COMPLETE", "XREADGROUP"]
        assert third.payload == {"i": 2}
        for job, value in ((first, 1), (second, 2)):
            result = await queue.get_result(job.id)
            assert result is not None and result.result == value
        await queue.mark_complete(third.id, result=3, latency_s=0.1)  # alone, a moment later
        assert (await queue.counts()).completed == 3


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
        assert isinstance(queue, BatchingJobQueue)
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


async def test_a_fetch_takes_the_jobs_read_with_completions_rather_than_reading_again(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make(redis_url, queue_name, prefetch=2) as queue:
        await queue.enqueue_many([{"i": i} for i in range(4)])
        first = await fetch_one(queue)
        second = queue.fetch_nowait()
        assert second is not None
        round_trips: list[list[str]] = []
        send = queue._link.round_trip

        async def recorded(commands: Any) -> Any:
            round_trips.append([str(c[0]) for c in commands])
            return await send(commands)

        monkeypatch.setattr(queue._link, "round_trip", recorded)
        for job in (first, second):
            queue.complete_soon(job.id, result=None, latency_s=0, on_done=lambda *_: None)
        await asyncio.sleep(0)  # the completions leave, with a read of two more jobs
        third = await queue.fetch()  # the buffer is empty, that read is on its way
        assert third is not None and third.payload == {"i": 2}
        assert len(round_trips) == 1 and round_trips[0][-1] == "XREADGROUP"


async def test_a_completion_whose_round_trip_fails_reports_a_backend_error(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    async with make(redis_url, queue_name) as queue:
        await queue.enqueue_many([{"i": 1}, {"i": 2}])
        first, second = await fetch_one(queue), await fetch_one(queue)

        async def broken(commands: Any) -> Any:
            raise RedisConnectionError("connection reset by peer")

        monkeypatch.setattr(queue._link, "round_trip", broken)
        errors: list[BaseException | None] = []
        done = asyncio.Event()

        def on_done(job_id: str, error: BaseException | None) -> None:
            errors.append(error)
            done.set()

        queue.complete_soon(first.id, result=1, latency_s=0.1, on_done=on_done)
        await asyncio.wait_for(done.wait(), timeout=5)
        assert isinstance(errors[0], QueueBackendError)
        assert errors[0].operation == "mark_complete"
        assert isinstance(errors[0].__cause__, RedisConnectionError)
        with pytest.raises(QueueBackendError, match="connection reset"):
            await queue.mark_complete(second.id, result=2, latency_s=0.1)
        monkeypatch.undo()
        assert (await queue.counts()).pending == 2  # neither recorded: both will be redelivered
