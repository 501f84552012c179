"""Resume in a fresh process-like setting, across tenants, after expiry, with damaged or
changed state, and when the pause cannot be committed (SQLite + PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from hitl_helpers import (
    REFUND_ACTION,
    FakeClock,
    Ledger,
    RefundArgs,
    Refunded,
    build_planner,
    current_mode,
    dump_database,
    final,
    refund,
    run_sql,
)

from penguiflow import ModelRegistry, Node
from penguiflow.planner import PlannerFinish, PlannerPause, ReactPlanner, ScriptedLLM
from penguiflow.planner.errors import PauseCommitError, ResumeDecisionError
from penguiflow.sessions import (
    PauseExpiredError,
    PauseNotFoundError,
    PauseStatus,
    RunStatus,
    SqlSessionStore,
)
from penguiflow.sessions.errors import CorruptRecordError

pytestmark = pytest.mark.usefixtures("planner_mode")  # each test runs in both tool modes


async def _pause(store: Any, ledger: Ledger, **kwargs: Any) -> PlannerPause:
    planner = build_planner(store, [REFUND_ACTION], **kwargs.pop("planner", {}))
    async with planner:
        result = await planner.run("refund", tool_context={"ledger": str(ledger.path)}, **kwargs)
    assert isinstance(result, PlannerPause)
    return result


async def test_resume_after_a_restart_with_new_objects(db_url: str, ledger: Ledger) -> None:
    async with SqlSessionStore(db_url) as store:
        pause = await _pause(store, ledger)
    token = pause.resume_token
    del pause
    async with SqlSessionStore(db_url) as fresh_store:
        planner = build_planner(fresh_store, [final("refunded after restart")])
        async with planner:
            result = await planner.resume(
                token, approve=True, tool_context={"ledger": str(ledger.path)}
            )
        assert isinstance(result, PlannerFinish)
        assert result.payload is not None
        assert result.payload.raw_answer == "refunded after restart"
        assert ledger.count("refund") == 1
        run = await fresh_store.get_run(result.metadata["run_id"])
        assert run.status is RunStatus.FINISHED
        assert "hitl" not in run.state["extensions"]


async def test_another_tenant_cannot_see_the_pause(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _pause(hitl_store, ledger, tenant_id="acme")
    planner = build_planner(hitl_store, [final()])
    async with planner:
        for tenant in ("globex", None):
            with pytest.raises(PauseNotFoundError):
                await planner.resume(pause.resume_token, approve=True, tenant_id=tenant)
        with pytest.raises(PauseNotFoundError):
            await planner.resume("not-a-token", approve=True, tenant_id="acme")
        assert ledger.count() == 0
        result = await planner.resume(
            pause.resume_token,
            approve=True,
            tenant_id="acme",
            tool_context={"ledger": str(ledger.path)},
        )
    assert isinstance(result, PlannerFinish)
    assert ledger.count("refund") == 1


async def test_expired_pause_cannot_be_resumed(db_url: str, ledger: Ledger) -> None:
    clock = FakeClock()
    async with SqlSessionStore(db_url, clock=clock) as store:
        pause = await _pause(store, ledger, planner={"pause_ttl_s": 60})
        assert pause.expires_at is not None
        clock.advance(61)
        planner = build_planner(store, [final()])
        async with planner:
            with pytest.raises(PauseExpiredError) as caught:
                await planner.resume(pause.resume_token, approve=True)
        assert caught.value.pause_id == pause.pause_id
        [expired] = await store.list_pauses(status=PauseStatus.EXPIRED)
        assert expired.pause_id == pause.pause_id
    assert ledger.count() == 0


async def test_pause_without_expiry(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _pause(hitl_store, ledger, planner={"pause_ttl_s": None})
    assert pause.expires_at is None


def _planner_with_refund_v2(store: Any, replies: list[Any]) -> ReactPlanner:
    class RefundArgsV2(RefundArgs):
        currency: str = "EUR"

    registry = ModelRegistry()
    registry.register("refund", RefundArgsV2, Refunded)
    return ReactPlanner(
        tool_mode=current_mode(),
        llm_client=ScriptedLLM(replies),
        nodes=[Node(refund, name="refund")],
        registry=registry,
        state_store=store,
    )


async def test_approval_does_not_survive_a_changed_tool_definition(
    hitl_store: Any, ledger: Ledger
) -> None:
    pause = await _pause(hitl_store, ledger)
    async with _planner_with_refund_v2(hitl_store, [final("rejected")]) as planner:
        with pytest.raises(ResumeDecisionError, match="definition"):
            await planner.resume(pause.resume_token, approve=True)
        result = await planner.resume(pause.resume_token, approve=False, reason="changed")
    assert isinstance(result, PlannerFinish)
    assert ledger.count() == 0


async def test_a_planner_without_the_tool_cannot_approve_it(
    hitl_store: Any, ledger: Ledger
) -> None:
    pause = await _pause(hitl_store, ledger)
    planner = build_planner(hitl_store, [final()], exclude=("refund",))
    async with planner:
        with pytest.raises(ResumeDecisionError, match="not in this planner's catalog"):
            await planner.resume(pause.resume_token, approve=True)
        result = await planner.resume(pause.resume_token, approve=False)
    assert isinstance(result, PlannerFinish)


async def test_a_corrupted_run_record_is_reported_and_the_pause_kept(
    hitl_store: Any, ledger: Ledger, db_url: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    await run_sql(
        db_url,
        "UPDATE penguiflow_runs SET state = '{broken' WHERE run_id = :run_id",
        run_id=pause.run_id,
    )
    planner = build_planner(hitl_store, [final()])
    async with planner:
        with pytest.raises(CorruptRecordError):
            await planner.resume(pause.resume_token, approve=True)
    [record] = await hitl_store.list_pauses(run_id=pause.run_id)
    assert record.status is PauseStatus.PENDING
    assert ledger.count() == 0


async def test_a_state_this_planner_cannot_read_releases_the_pause(
    hitl_store: Any, ledger: Ledger, db_url: str
) -> None:
    pause = await _pause(hitl_store, ledger)
    damaged = '{"schema_version":1,"data":{"query":"x","extensions":{"hitl":{"pending":7}}}}'
    await run_sql(
        db_url,
        "UPDATE penguiflow_runs SET state = :state WHERE run_id = :run_id",
        state=damaged,
        run_id=pause.run_id,
    )
    planner = build_planner(hitl_store, [final()])
    async with planner:
        with pytest.raises(ValueError, match="cannot be resumed"):
            await planner.resume(pause.resume_token, approve=True)
    [record] = await hitl_store.list_pauses(run_id=pause.run_id)
    assert record.status is PauseStatus.PENDING
    assert ledger.count() == 0


_FAIL_SQLITE = (
    "CREATE TRIGGER pf_test_fail BEFORE INSERT ON penguiflow_pauses "
    "BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END"
)
_FAIL_PG = (
    "CREATE OR REPLACE FUNCTION pf_test_fail() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'simulated disk failure'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER pf_test_fail BEFORE INSERT ON penguiflow_pauses "
    "FOR EACH ROW EXECUTE FUNCTION pf_test_fail()",
)


async def test_a_failed_commit_hands_out_no_token(
    hitl_store: Any, ledger: Ledger, db_url: str
) -> None:
    sqlite = db_url.startswith("sqlite")
    await run_sql(db_url, *((_FAIL_SQLITE,) if sqlite else _FAIL_PG))
    events: list[Any] = []
    try:
        planner = build_planner(hitl_store, [REFUND_ACTION], event_callback=events.append)
        async with planner:
            with pytest.raises(PauseCommitError) as caught:
                await planner.run("refund", tool_context={"ledger": str(ledger.path)})
    finally:
        drop = "DROP TRIGGER pf_test_fail" + ("" if sqlite else " ON penguiflow_pauses")
        await run_sql(db_url, drop)
    error = caught.value
    assert "simulated disk failure" in str(error)
    assert error.__cause__ is not None
    assert await hitl_store.list_pauses() == []
    run = await hitl_store.get_run(error.run_id)
    assert run.status is RunStatus.FAILED  # never "paused" without its pause
    assert events[-1].event_type == "finish" and events[-1].extra["reason"] == "error"
    assert ledger.count() == 0


async def test_runs_are_recorded_and_finished(hitl_store: Any, ledger: Ledger) -> None:
    planner = build_planner(hitl_store, [final("hi")])
    async with planner:
        result = await planner.run("hello", tenant_id="acme")
    assert isinstance(result, PlannerFinish)
    run = await hitl_store.get_run(result.metadata["run_id"], tenant_id="acme")
    assert run.status is RunStatus.FINISHED
    assert run.state["query"] == "hello"


async def test_the_database_holds_no_token(hitl_store: Any, ledger: Ledger, db_url: str) -> None:
    pause = await _pause(hitl_store, ledger)
    assert pause.resume_token not in await dump_database(db_url)


async def test_a_changed_tool_fingerprint_voids_the_approval(
    hitl_store: Any, ledger: Ledger
) -> None:
    from penguiflow import NodeSpec

    extra: dict[str, Any] = {"fingerprint": "v1"}  # live, like a ToolNode spec's extra

    def make(replies: list[Any]) -> ReactPlanner:
        spec = NodeSpec(
            node=Node(refund, name="refund"),
            name="refund",
            desc="Refund an order",
            args_model=RefundArgs,
            out_model=Refunded,
            side_effects="write",
            requires_approval=True,
            extra=extra,
        )
        return ReactPlanner(
            llm_client=ScriptedLLM(replies),
            catalog=[spec],
            state_store=hitl_store,
            tool_mode=current_mode(),
        )

    context = {"ledger": str(ledger.path)}
    async with make([REFUND_ACTION]) as planner:
        pause = await planner.run("refund", tool_context=context)
    assert isinstance(pause, PlannerPause)
    extra["fingerprint"] = "v2"  # the server changed the tool's description or schema
    async with make([final()]) as planner:
        with pytest.raises(ResumeDecisionError, match="definition"):
            await planner.resume(pause.resume_token, approve=True, tool_context=context)
        assert ledger.count() == 0
        # approving the call again, as it is now defined, is an explicit edit
        result = await planner.resume(
            pause.resume_token, edited_args=pause.pending_calls[0].args, tool_context=context
        )
    assert isinstance(result, PlannerFinish)
    assert ledger.count("refund") == 1


@pytest.mark.parametrize("idempotent", [True, False])
async def test_a_call_left_started_is_rerun_only_when_idempotent(
    hitl_store: Any, ledger: Ledger, idempotent: bool
) -> None:
    from penguiflow import NodeSpec
    from penguiflow.planner._approval import journal_key

    def make(replies: list[Any]) -> ReactPlanner:
        spec = NodeSpec(
            node=Node(refund, name="refund"),
            name="refund",
            desc="Refund an order",
            args_model=RefundArgs,
            out_model=Refunded,
            side_effects="write",
            requires_approval=True,
            extra={"idempotent": idempotent},
        )
        return ReactPlanner(
            llm_client=ScriptedLLM(replies),
            catalog=[spec],
            state_store=hitl_store,
            tool_mode=current_mode(),
        )

    context = {"ledger": str(ledger.path)}
    async with make([REFUND_ACTION]) as planner:
        pause = await planner.run("refund", tool_context=context)
    assert isinstance(pause, PlannerPause)
    [call] = pause.pending_calls
    # an earlier resume began the call and died before recording its outcome
    key = journal_key(pause.run_id, 1, 0, call.call_hash)
    await hitl_store.journal_begin(pause.run_id, key, tool="refund", args=call.args)
    async with make([final()]) as planner:
        result = await planner.resume(pause.resume_token, approve=True, tool_context=context)
    assert isinstance(result, PlannerFinish)
    step = result.metadata["steps"][0]
    if idempotent:
        assert ledger.count("refund") == 1
        assert step["observation"]["key"] == key  # the same idempotency key again
        entry = await hitl_store.journal_get(pause.run_id, key)
        assert entry is not None and entry.status == "completed" and entry.attempts == 2
    else:
        assert ledger.count("refund") == 0
        assert "may or may not have run" in step["error"]
