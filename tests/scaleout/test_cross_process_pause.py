"""A pause created by a job on worker process A is approved through the HTTP app of process B."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from scaleout_helpers import (
    agent_service,
    effects_key,
    stop_gracefully,
    workers,
)

from penguiflow.scaleout.redis_queue import RedisJobQueue

pytestmark = pytest.mark.slow


async def test_a_workers_pause_is_approved_through_another_process(
    redis_url: str, queue_name: str, pg_shared_url: str, tmp_path: Path
) -> None:
    service_args = ("--pg", pg_shared_url, "--redis", redis_url, "--queue", queue_name)
    args = ("--redis", redis_url, "--queue", queue_name, "--pg", pg_shared_url, "--hitl")
    queue = RedisJobQueue(redis_url, name=queue_name, block_s=0.05)
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        with workers(1, tmp_path, *args) as (worker,):
            job_id = await queue.enqueue({"query": "refund:42"}, tenant="acme")
            job = await queue.wait_result(job_id, timeout_s=30)
            await stop_gracefully([worker])
            worker_pid = worker.pid
        assert job.status == "completed" and job.result["paused"] is True
        token, run_id = job.result["resume_token"], job.result["run_id"]
        assert run_id == f"job-{job_id}"
        assert await redis.hget(effects_key(queue_name), f"refund:{run_id}") is None

        with agent_service(tmp_path, *service_args) as service_url:
            async with httpx.AsyncClient(base_url=service_url, timeout=30) as http:
                acme, globex = {"X-Tenant-ID": "acme"}, {"X-Tenant-ID": "globex"}
                pending = (
                    await http.get("/pauses", params={"status": "pending"}, headers=acme)
                ).json()
                assert [p["run_id"] for p in pending["pauses"]] == [run_id]
                assert "resume_token" not in str(pending) and token not in str(pending)
                assert (await http.get("/pauses", headers=globex)).json() == {"pauses": []}
                # Another tenant cannot use the token.
                stolen = await http.post(
                    "/resume", json={"token": token, "approve": True, "wait": True}, headers=globex
                )
                assert stolen.status_code == 404
                approved = await http.post(
                    "/resume", json={"token": token, "approve": True, "wait": True}, headers=acme
                )
                assert approved.status_code == 200, approved.text
                record = approved.json()
                assert record["status"] == "finished" and record["planner_run_id"] == run_id
                assert record["result"]["payload"]["raw_answer"] == "done: refund:42"
                refunded = record["result"]["metadata"]["steps"][-1]["observation"]
                assert refunded["order"] == 42 and refunded["pid"] != worker_pid
                again = await http.post(
                    "/resume", json={"token": token, "approve": True, "wait": True}, headers=acme
                )
                assert again.status_code == 409
                assert again.json()["error"]["type"] == "PauseAlreadyResumedError"
                resolved = (
                    await http.get("/pauses", params={"status": "resolved"}, headers=acme)
                ).json()
                assert [p["run_id"] for p in resolved["pauses"]] == [run_id]
        # The approved refund ran exactly once, in process B.
        assert await redis.hget(effects_key(queue_name), f"refund:{run_id}") == "1"
    finally:
        await queue.aclose()
        await redis.aclose()
