"""Worker processes on real Redis and PostgreSQL: draining, SIGKILL redelivery, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from scaleout_helpers import (
    effects_key,
    producer,
    running_key,
    stop_gracefully,
    wait_for,
    workers,
)

from penguiflow.sessions import SqlSessionStore

pytestmark = pytest.mark.slow


async def test_three_workers_drain_500_jobs_and_a_killed_workers_job_completes_once(
    redis_url: str, queue_name: str, pg_shared_url: str, tmp_path: Path
) -> None:
    args = ("--redis", redis_url, "--queue", queue_name, "--pg", pg_shared_url)
    with workers(3, tmp_path, *args, "--concurrency", "4", "--visibility", "2") as procs:
        async with producer(redis_url, queue_name) as (queue, redis):
            plain = {"journal": False}  # the journal is exercised by the killed job below
            acme = await queue.enqueue_many(
                [{"query": f"effect:{i}", "tool_context": plain} for i in range(250)],
                tenant="acme",
            )
            globex = await queue.enqueue_many(
                [{"query": f"effect:{i}", "tool_context": plain} for i in range(250, 500)],
                tenant="globex",
            )

            async def all_done() -> bool:
                return (await queue.counts()).completed >= 500

            await wait_for(all_done, timeout=90, what="500 jobs did not complete")
            pids = set()
            for tenant, ids in (("acme", acme), ("globex", globex)):
                for job_id in ids:
                    result = await queue.get_result(job_id)
                    assert result is not None and result.status == "completed", job_id
                    assert result.result["tenant"] == tenant
                    assert result.result["observation"]["replayed"] is False
                    pids.add(result.result["observation"]["pid"])
            assert pids == {p.pid for p in procs}  # every process took part
            effects = await redis.hgetall(effects_key(queue_name))
            assert len(effects) == 500 and set(effects.values()) == {"1"}

            # A job whose worker is SIGKILLed after its side effect, mid-job.
            victim_job = await queue.enqueue(
                {"query": "effect:9999", "tool_context": {"hang_after_effect": True}},
                tenant="acme",
            )
            run_id = f"job-{victim_job}"

            async def victim_pid() -> int:
                return int(await redis.get(running_key(queue_name, run_id)) or 0)

            pid = await wait_for(victim_pid, timeout=30, what="the slow job never started")
            os.kill(pid, signal.SIGKILL)
            result = await queue.wait_result(victim_job, timeout_s=60)
            assert result.status == "completed" and result.attempts == 2
            observation = result.result["observation"]
            assert observation["replayed"] is True and observation["pid"] == pid
            assert await redis.hget(effects_key(queue_name), run_id) == "1"
            async with SqlSessionStore(pg_shared_url) as store:
                entry = await store.journal_get(run_id, "record_effect")
            assert entry is not None and entry.status.value == "completed"
            assert entry.attempts == 1
            counts = await queue.counts()
            assert (counts.completed, counts.pending, counts.ready) == (501, 0, 0)
            survivors = [p for p in procs if p.pid != pid]
            assert len(survivors) == 2
            await stop_gracefully(survivors)


async def test_a_prefetching_worker_killed_mid_batch_loses_no_job_and_completes_none_twice(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    args = ("--redis", redis_url, "--queue", queue_name, "--concurrency", "4")
    args += ("--visibility", "1", "--prefetch", "8")
    with workers(2, tmp_path, *args) as procs:
        async with producer(redis_url, queue_name) as (queue, redis):
            plain = {"journal": False, "delay": 0.02}  # jobs are still running at the kill
            ids = await queue.enqueue_many(
                [{"query": f"effect:{i}", "tool_context": plain} for i in range(300)]
            )

            async def some_done() -> bool:
                return (await queue.counts()).completed >= 60

            await wait_for(some_done, timeout=60, what="the workers did not start")
            assert (await queue.counts()).completed < 300, "the jobs ran out before the kill"
            # Killed with jobs running, prefetched and completed but not yet sent.
            procs[0].kill()

            async def all_done() -> bool:
                counts = await queue.counts()
                return counts.completed >= 300 and counts.pending == 0

            await wait_for(all_done, timeout=90, what="the killed worker's jobs were lost")
            counts = await queue.counts()
            assert (counts.completed, counts.pending, counts.ready) == (300, 0, 0)
            attempts = []
            for job_id in ids:
                result = await queue.get_result(job_id)
                assert result is not None and result.status == "completed", job_id
                attempts.append(result.attempts)
            assert set(attempts) == {1, 2}  # the killed worker's jobs ran again, once
            effects = await redis.hgetall(effects_key(queue_name))
            assert set(effects) == {f"job-{job_id}" for job_id in ids}  # each ran
            await stop_gracefully([procs[1]])


@pytest.mark.parametrize(
    ("grace", "sleep", "completed", "released"),
    [("10", 0.6, 4, 0), ("0.2", 60.0, 0, 4)],
    ids=["finish-in-grace", "hand-back-after-grace"],
)
async def test_sigterm_stops_fetching_and_settles_in_flight_jobs(
    redis_url: str,
    queue_name: str,
    tmp_path: Path,
    grace: str,
    sleep: float,
    completed: int,
    released: int,
) -> None:
    args = ("--redis", redis_url, "--queue", queue_name, "--concurrency", "4", "--grace", grace)
    with workers(1, tmp_path, *args) as (proc,):
        async with producer(redis_url, queue_name) as (queue, redis):
            await queue.enqueue_many([{"sleep": sleep} for _ in range(8)])

            async def four_running() -> bool:
                keys = await redis.keys(running_key(queue_name, "*"))
                return len(keys) == 4

            await wait_for(four_running, timeout=30, what="4 jobs never ran at once")
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.to_thread(proc.wait, 30)
            assert rc == 0
            assert proc.stdout is not None
            assert "STOPPED" in proc.stdout.read()
            counts = await queue.counts()
            assert counts.pending == 0  # nothing left leased to the stopped worker
            assert (counts.completed, counts.released) == (completed, released)
            assert counts.ready == 8 - completed
