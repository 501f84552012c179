"""Trace context across processes: the Redis job envelope and the remote transport.

A job enqueued inside a span carries its ``traceparent``; the worker's ``process job``
span, the flow's node spans and the planner run inside it join that trace. A remote call
sends ``traceparent`` as an HTTP header; the remote agent's run joins the caller's trace.
"""

from __future__ import annotations

import json

from otel_support import collecting, points, tree
from scaleout_helpers import agent_flow_factory, build_planner, producer, serve_in_thread

from penguiflow import RemoteCallRequest
from penguiflow.scaleout import RedisJobQueue, RetryPolicy, Worker
from penguiflow.scaleout.remote import HttpRemoteTransport
from penguiflow.server import create_agent_app


async def test_a_job_joins_the_trace_it_was_enqueued_in(redis_url: str, queue_name: str) -> None:
    with collecting() as otel:
        tracer = otel.tracer_provider.get_tracer("test")
        async with producer(redis_url, queue_name) as (queue, redis):
            with tracer.start_as_current_span("enqueue") as enqueue:
                traced = await queue.enqueue({"query": "echo:hi"})
            untraced = await queue.enqueue({"query": "echo:bye"})
            failing = await queue.enqueue({"query": "crash:now"})
            records = await redis.xrange(f"penguiflow:jobs:{{{queue_name}}}:stream")  # documented
        meta = {json.loads(r[1]["job"])["id"]: json.loads(r[1]["job"])["meta"] for r in records}
        assert meta[traced]["traceparent"].split("-")[1] == format(
            enqueue.get_span_context().trace_id, "032x"
        )
        assert "traceparent" not in meta[untraced]

        planner = build_planner()
        jobs_queue = RedisJobQueue(redis_url, name=queue_name, block_s=0.05)
        worker = Worker(
            jobs_queue,
            agent_flow_factory(planner, {}),
            concurrency=1,
            retry=RetryPolicy(max_attempts=2, backoff_base=0.0),
        )
        try:
            async with planner:
                await worker.run(stop_when_idle=True)
        finally:
            await jobs_queue.aclose()
        spans = otel.spans()
        metrics = otel.metrics()

    jobs = {s["attributes"]["penguiflow.job.id"]: s for s in spans if s["name"] == "process job"}
    job = jobs[traced]
    assert job["kind"] == "CONSUMER"
    assert job["parent_id"] == otel.one("enqueue")["span_id"]
    assert job["attributes"]["messaging.message.id"] == traced
    node = next(s for s in spans if s["parent_id"] == job["span_id"])
    assert node["name"] == "node agent"
    run = next(s for s in spans if s["parent_id"] == node["span_id"])
    assert run["name"] == "invoke_agent", tree(spans)
    assert {s["trace_id"] for s in (job, node, run)} == {otel.one("enqueue")["trace_id"]}
    assert jobs[untraced]["parent_id"] is None

    def count(event: str) -> int:
        found = points(metrics, "penguiflow.worker.jobs", **{"penguiflow.job.event": event})
        return sum(point.value for point in found)

    assert {e: count(e) for e in ("fetched", "completed", "retried", "failed")} == {
        "fetched": 4,  # the failing job twice
        "completed": 2,
        "retried": 1,
        "failed": 1,
    }
    failed = [s for s in spans if s["name"] == "process job" and s["status"] == "ERROR"]
    assert [s["attributes"]["penguiflow.job.id"] for s in failed] == [failing, failing]
    assert [s["attributes"]["penguiflow.job.attempt"] for s in failed] == [0, 1]


async def test_a_remote_agent_joins_the_callers_trace() -> None:
    app = create_agent_app(build_planner, keepalive_s=0.2)
    with collecting() as otel, serve_in_thread(app) as url:
        tracer = otel.tracer_provider.get_tracer("test")
        async with HttpRemoteTransport(read_timeout_s=10) as transport:
            with tracer.start_as_current_span("caller"):
                result = await transport.send(
                    RemoteCallRequest(
                        agent_url=url, message="echo:hi", meta={"tenant": "acme"}, timeout_s=20
                    )
                )
        assert result.meta["status"] == "finished"
        spans = otel.spans()
    caller = next(s for s in spans if s["name"] == "caller")
    run = next(s for s in spans if s["name"] == "invoke_agent")
    assert run["parent_id"] == caller["span_id"] and run["trace_id"] == caller["trace_id"]
    assert run["attributes"]["penguiflow.tenant.id"] == "acme"
