"""Exactly once: concurrent resumes of one token, across tasks and OS processes, and a
resumer killed mid-resume (SQLite + PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hitl_helpers import REFUND_ACTION, FakeClock, Ledger, act, build_planner, current_mode, final
from line_worker import read_line, send, spawn

from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.sessions import (
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseStatus,
    RunStatus,
    SqlSessionStore,
)

pytestmark = pytest.mark.usefixtures("planner_mode")  # each test runs in both tool modes

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "_resume_worker.py")
CONCURRENT = 20  # resumes of one token from tasks of one process
PROCESSES, PER_PROCESS = 2, 25  # 50 resumes of one token from two OS processes


async def _pause(store: Any, ledger: Ledger) -> PlannerPause:
    planner = build_planner(store, [REFUND_ACTION])
    async with planner:
        result = await planner.run("refund", tool_context={"ledger": str(ledger.path)})
    assert isinstance(result, PlannerPause)
    return result


async def test_concurrent_resumes_in_one_process_run_the_tool_once(
    hitl_store: Any, ledger: Ledger
) -> None:
    pause = await _pause(hitl_store, ledger)
    planner = build_planner(hitl_store, [final("refunded")])

    async def attempt() -> Any:
        try:
            return await planner.resume(
                pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
            )
        except PauseAlreadyClaimedError as exc:  # PauseAlreadyResumedError included
            return exc

    async with planner:
        outcomes = await asyncio.gather(*(attempt() for _ in range(CONCURRENT)))
    finished = [o for o in outcomes if isinstance(o, PlannerFinish)]
    refused = [o for o in outcomes if isinstance(o, PauseAlreadyClaimedError)]
    assert len(finished) == 1
    assert len(refused) == CONCURRENT - 1
    assert ledger.count("refund") == 1
    print(f"concurrent resumes: {len(finished)} finished, {len(refused)} refused")


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await spawn(WORKER, *args, extra_paths=(str(HERE),))


async def _reap(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode


async def test_concurrent_resumes_from_two_processes(
    hitl_store: Any, ledger: Ledger, db_url: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    procs = [
        await _spawn(db_url, str(ledger.path), "resume", str(PER_PROCESS)) for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:
            await send(proc, pause.resume_token)
        for proc in procs:
            assert await read_line(proc) == "ready"
        for proc in procs:
            await send(proc, "go")
        outcomes = [o for proc in procs for o in json.loads(await read_line(proc))]
    finally:
        for proc in procs:
            if proc.returncode is None:
                await _reap(proc)
    assert outcomes.count("finished") == 1, outcomes
    assert set(outcomes) <= {"finished", "PauseAlreadyClaimedError", "PauseAlreadyResumedError"}
    assert ledger.count("refund") == 1
    assert len(outcomes) == PROCESSES * PER_PROCESS
    print(f"{PROCESSES} processes x {PER_PROCESS} resumes: {outcomes.count('finished')} finished")


@pytest.mark.parametrize("where", ["kill-before-commit", "kill-in-journal"])
async def test_a_killed_resumer_never_makes_the_tool_run_twice(
    hitl_store: Any, ledger: Ledger, db_url: str, where: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    proc = await _spawn(db_url, str(ledger.path), where)
    await send(proc, pause.resume_token)
    assert await read_line(proc) == "dying"
    assert await _reap(proc) == -9  # SIGKILL
    assert ledger.count("refund") == 1  # the tool ran in the killed process
    [record] = await hitl_store.list_pauses(run_id=pause.run_id)
    assert record.status is PauseStatus.CLAIMED

    planner = build_planner(hitl_store, [final("after the crash")])
    async with planner:
        with pytest.raises(PauseAlreadyClaimedError):  # the dead resumer's lease still holds
            await planner.resume(pause.resume_token, approve=True)

    later = FakeClock()
    later.advance(3600)  # past the dead resumer's lease
    async with SqlSessionStore(db_url, clock=later) as store:
        events: list[Any] = []
        planner = build_planner(store, [final("after the crash")], event_callback=events.append)
        async with planner:
            result = await planner.resume(
                pause.resume_token,
                approve=False,  # ignored: a reclaim acts on the first decision
                tool_context={"ledger": str(ledger.path)},
            )
            with pytest.raises(PauseAlreadyResumedError) as again:
                await planner.resume(pause.resume_token, approve=True)
        assert isinstance(result, PlannerFinish)
        assert ledger.count("refund") == 1  # never run a second time
        resume_event = next(e for e in events if e.event_type == "resume")
        assert resume_event.extra["reclaimed"] is True
        step = result.metadata["steps"][0]
        if where == "kill-before-commit":
            assert step["observation"]["refunded"] == 500  # the journalled result
            assert again.value.outcome is not None
            assert again.value.outcome["unknown_outcome"] == []
        else:
            assert step["observation"] is None
            assert "may or may not have run" in step["error"]
            assert any(
                e.event_type == "tool_call_error" and e.extra.get("code") == "outcome_unknown"
                for e in events
            )
            assert again.value.outcome is not None
            assert again.value.outcome["unknown_outcome"] == ["refund"]
        run = await store.get_run(pause.run_id)
        assert run.status is RunStatus.FINISHED


async def test_the_lease_is_renewed_while_an_approved_call_runs(
    hitl_store: Any, ledger: Ledger
) -> None:
    from pydantic import BaseModel

    from penguiflow import ModelRegistry, Node, tool
    from penguiflow.planner import ReactPlanner, ScriptedLLM, ToolContext

    started, release = asyncio.Event(), asyncio.Event()

    class Args(BaseModel):
        n: int

    @tool(desc="slow payment", side_effects="write", requires_approval=True)
    async def pay(args: Args, ctx: ToolContext) -> Args:
        started.set()
        await release.wait()
        return args

    def make(replies: list[Any]) -> ReactPlanner:
        registry = ModelRegistry()
        registry.register("pay", Args, Args)
        return ReactPlanner(
            tool_mode=current_mode(),
            llm_client=ScriptedLLM(replies),
            nodes=[Node(pay, name="pay")],
            registry=registry,
            state_store=hitl_store,
            resume_lease_s=1.0,
        )

    async with make([act("pay", {"n": 1})]) as planner:
        pause = await planner.run("pay")
    assert isinstance(pause, PlannerPause)
    async with make([final("paid")]) as first, make([]) as second:
        task = asyncio.create_task(first.resume(pause.resume_token, approve=True))
        await asyncio.wait_for(started.wait(), 30)
        await asyncio.sleep(2.5)  # more than twice the lease: only renewals keep it
        with pytest.raises(PauseAlreadyClaimedError):
            await second.resume(pause.resume_token, approve=True)
        release.set()
        result = await asyncio.wait_for(task, 30)
    assert isinstance(result, PlannerFinish)
