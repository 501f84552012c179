"""A run whose process dies after its pause's resolution was committed is recovered from
its last committed step, in another process, exactly once (SQLite + PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hitl_helpers import REFUND_ACTION, FakeClock, Ledger, act, build_planner, final
from line_worker import read_line, send, spawn
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import PlannerFinish, PlannerPause, ReactPlanner, ScriptedLLM, ToolContext
from penguiflow.planner.run_state import RunState
from penguiflow.sessions import PauseAlreadyResumedError, RunStatus, SqlSessionStore
from penguiflow.sessions.errors import RunInUseError, RunLeaseLostError

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "_recover_worker.py")
LATER = 3600.0  # recoverers' clocks run this far ahead: the dead owner's lease has lapsed


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await spawn(WORKER, *args, extra_paths=(str(HERE),))


async def _reap(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode


async def _paused_refund(store: Any, ledger: Ledger) -> PlannerPause:
    async with build_planner(store, [REFUND_ACTION]) as planner:
        result = await planner.run("refund order 42", tool_context={"ledger": str(ledger.path)})
    assert isinstance(result, PlannerPause)
    return result


async def test_a_resumer_killed_after_the_commit_is_recovered_once(
    hitl_store: SqlSessionStore, ledger: Ledger, db_url: str
) -> None:
    pause = await _paused_refund(hitl_store, ledger)
    dying = await _spawn(db_url, str(ledger.path), "resume-then-hang")
    try:
        await send(dying, pause.resume_token)
        assert await read_line(dying) == "hanging"  # the pause's resolution is committed
    finally:
        dying.kill()
    assert await _reap(dying) == -9
    assert ledger.count("refund") == 1 and ledger.count("hang") == 1
    run = await hitl_store.get_run(pause.run_id)
    assert run.status is RunStatus.RUNNING and run.owner_id is not None

    # Every later resume is refused (the token was used); the run is not lost for that.
    async with build_planner(hitl_store, [final("x")]) as planner:
        with pytest.raises(PauseAlreadyResumedError):
            await planner.resume(pause.resume_token, approve=True)
        assert await planner.recover_stale_runs() == []  # the dead owner's lease is live

    recoverers = [await _spawn(db_url, str(ledger.path), "recover", str(LATER)) for _ in range(2)]
    try:
        for proc in recoverers:
            assert await read_line(proc) == "ready"
        for proc in recoverers:
            await send(proc, "go")
        outcomes = [json.loads(await read_line(proc)) for proc in recoverers]
    finally:
        for proc in recoverers:
            await _reap(proc)
    assert sorted(outcomes) == [[], [[pause.run_id, "finished"]]], outcomes

    # The approved refund ran once, before the crash, and the run went on from the step
    # committed with the pause's resolution (the refund's journalled result in it).
    assert ledger.count("refund") == 1 and ledger.count("hang") == 1
    run = await hitl_store.get_run(pause.run_id)
    assert run.status is RunStatus.FINISHED and run.owner_id is None
    steps = run.state["steps"]
    assert [s["action"]["next_node"] for s in steps] == ["refund"]
    assert steps[0]["observation"]["refunded"] == 500
    much_later = FakeClock()
    much_later.advance(10 * LATER)
    async with SqlSessionStore(db_url, clock=much_later) as later:
        async with build_planner(later, [final("again")]) as planner:
            assert await planner.recover_stale_runs() == []  # finished: nothing to recover


class Args(BaseModel):
    n: int


def _slow_planner(store: Any, replies: list[Any], gate: dict[str, Any], **kwargs: Any) -> Any:
    @tool(desc="slow lookup", side_effects="read")
    async def slow(args: Args, ctx: ToolContext) -> Args:
        gate["started"].set()
        await gate["release"].wait()
        return args

    registry = ModelRegistry()
    registry.register("slow", Args, Args)
    return ReactPlanner(
        llm_client=ScriptedLLM(replies),
        nodes=[Node(slow, name="slow")],
        registry=registry,
        state_store=store,
        **kwargs,
    )


async def test_the_heartbeat_keeps_a_long_run_owned(hitl_store: SqlSessionStore) -> None:
    gate = {"started": asyncio.Event(), "release": asyncio.Event()}
    owner = _slow_planner(hitl_store, [act("slow", {"n": 1}), final("ok")], gate, run_lease_s=1.0)
    rescuer = _slow_planner(hitl_store, [], gate, run_lease_s=1.0)
    async with owner, rescuer:
        task = asyncio.create_task(owner.run("go", run_id="long"))
        await asyncio.wait_for(gate["started"].wait(), 30)
        await asyncio.sleep(2.5)  # more than twice the lease: only renewals keep it
        assert await rescuer.recover_stale_runs() == []
        gate["release"].set()
        result = await asyncio.wait_for(task, 30)
    assert isinstance(result, PlannerFinish)
    assert (await hitl_store.get_run("long")).status is RunStatus.FINISHED


async def test_an_owner_that_lost_its_run_stops(db_url: str) -> None:
    gate = {"started": asyncio.Event(), "release": asyncio.Event()}
    ahead = FakeClock()
    ahead.advance(10)  # to the rescuer, the owner looks dead: its lease lapsed
    async with SqlSessionStore(db_url) as store, SqlSessionStore(db_url, clock=ahead) as other:
        owner = _slow_planner(store, [act("slow", {"n": 1})], gate, run_lease_s=0.3)
        rescuer = _slow_planner(other, [final("rescued")], gate)
        async with owner, rescuer:
            task = asyncio.create_task(owner.run("go", run_id="taken"))
            await asyncio.wait_for(gate["started"].wait(), 30)
            [recovered] = await rescuer.recover_stale_runs()
            assert isinstance(recovered.result, PlannerFinish)
            with pytest.raises(RunLeaseLostError):
                await asyncio.wait_for(task, 30)  # its next heartbeat finds the run gone
        run = await store.get_run("taken")
    assert run.status is RunStatus.FINISHED  # the owner did not overwrite the rescue
    assert run.state["steps"] == []  # continued from the last committed state
    assert recovered.result.payload is not None
    assert recovered.result.payload.raw_answer == "rescued"


async def test_a_run_started_again_by_id_takes_over_from_a_dead_owner(
    hitl_store: SqlSessionStore,
) -> None:
    # A job redelivered after its worker died runs the planner again with the same id.
    state = RunState(run_id="job-7", query="q").model_dump(mode="json")
    await hitl_store.create_run(run_id="job-7", state=state, owner_id="dead", lease_s=0.5)
    async with build_planner(hitl_store, [final("redelivered")]) as planner:
        result = await planner.run("q", run_id="job-7")  # waits for the dead owner's lease
    assert isinstance(result, PlannerFinish)
    assert (await hitl_store.get_run("job-7")).status is RunStatus.FINISHED


async def test_a_run_started_again_while_its_owner_lives_is_refused(
    hitl_store: SqlSessionStore,
) -> None:
    state = RunState(run_id="job-8", query="q").model_dump(mode="json")
    await hitl_store.create_run(run_id="job-8", state=state, owner_id="alive", lease_s=0.5)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(0.1)
            await hitl_store.renew_run_lease(
                "job-8", tenant_id="default", owner_id="alive", lease_s=0.5
            )

    beating = asyncio.create_task(heartbeat())
    try:
        async with build_planner(hitl_store, [final("twice")]) as planner:
            with pytest.raises(RunInUseError, match="running in another process"):
                await planner.run("q", run_id="job-8")
    finally:
        beating.cancel()
        await asyncio.wait([beating])
    run = await hitl_store.get_run("job-8")
    assert (run.status, run.owner_id, run.version) == (RunStatus.RUNNING, "alive", 1)
