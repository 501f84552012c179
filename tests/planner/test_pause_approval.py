"""Tools with requires_approval pause before running; approve, reject, edit (SQLite + PG)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hitl_helpers import REFUND_ACTION, Ledger, act, build_planner, dump_database, final

from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.planner.errors import ResumeDecisionError, StateStoreRequiredError
from penguiflow.sessions import PauseAlreadyResumedError, PauseStatus, RunStatus, SqlSessionStore

pytestmark = pytest.mark.usefixtures("planner_mode")  # each test runs in both tool modes


async def _paused(store: SqlSessionStore, ledger: Ledger, **kwargs: Any) -> PlannerPause:
    planner = build_planner(store, [REFUND_ACTION])
    try:
        result = await planner.run(
            "refund order 42", tool_context={"ledger": str(ledger.path)}, **kwargs
        )
    finally:
        await planner.aclose()
    assert isinstance(result, PlannerPause)
    return result


async def test_approval_pauses_before_the_tool_runs(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _paused(hitl_store, ledger)
    assert ledger.count() == 0
    assert pause.reason == "approval_required"
    assert "refund" in (pause.payload or {})["message"]
    [call] = pause.pending_calls
    assert (call.tool, call.kind, call.args) == (
        "refund",
        "approval",
        {"order_id": 42, "cents": 500},
    )
    assert call.call_id == "call_1_0"
    assert len(call.call_hash) == 64
    assert len(pause.resume_token) >= 22  # >= 128 random bits, url-safe
    assert pause.resume_token not in repr(pause)
    stored = await hitl_store.get_run(pause.run_id)
    assert stored.status is RunStatus.PAUSED
    [record] = await hitl_store.list_pauses(status=PauseStatus.PENDING)
    assert record.pause_id == pause.pause_id
    assert record.pending_calls[0]["call_hash"] == call.call_hash


async def test_approve_runs_the_tool_once_and_finishes(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _paused(hitl_store, ledger)
    planner = build_planner(hitl_store, [final("refunded")])
    async with planner:
        result = await planner.resume(
            pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
        )
        assert isinstance(result, PlannerFinish)
        assert result.payload is not None and result.payload.raw_answer == "refunded"
        [step] = result.metadata["steps"]
        assert step["kind"] == "tool"
        assert step["observation"]["refunded"] == 500
        [entry] = ledger.entries()
        assert entry["args"] == {"order_id": 42, "cents": 500}
        assert entry["key"] == step["observation"]["key"]  # ctx.idempotency_key
        with pytest.raises(PauseAlreadyResumedError) as caught:
            await planner.resume(pause.resume_token, approve=True)
    assert caught.value.outcome is not None
    assert caught.value.outcome["calls"][0]["decision"] == "approved"
    assert pickle.loads(pickle.dumps(caught.value)).outcome == caught.value.outcome
    assert ledger.count() == 1
    assert (await hitl_store.get_run(pause.run_id)).status is RunStatus.FINISHED


async def test_reject_becomes_an_observation(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _paused(hitl_store, ledger)
    planner = build_planner(hitl_store, [final("not refunded")])
    async with planner:
        result = await planner.resume(pause.resume_token, approve=False, reason="too expensive")
    assert isinstance(result, PlannerFinish)
    [step] = result.metadata["steps"]
    assert step["kind"] == "rejected"
    assert step["error"] == "rejected by the reviewer: too expensive"
    prompt = planner.llm_client.requests[-1].messages  # type: ignore[attr-defined]
    assert any("rejected by the reviewer: too expensive" in str(m["content"]) for m in prompt)
    assert ledger.count() == 0


async def test_edited_args_are_validated_and_used(hitl_store: Any, ledger: Ledger) -> None:
    pause = await _paused(hitl_store, ledger)
    context = {"ledger": str(ledger.path)}
    planner = build_planner(hitl_store, [final("partial refund")])
    async with planner:
        with pytest.raises(ResumeDecisionError) as caught:
            await planner.resume(
                pause.resume_token, edited_args={"order_id": 42, "cents": -5}, tool_context=context
            )
        assert caught.value.call_id == "call_1_0"
        assert "cents" in str(caught.value)
        assert ledger.count() == 0
        # the pause was released: it is pending again and can be resumed
        [record] = await hitl_store.list_pauses(run_id=pause.run_id)
        assert record.status is PauseStatus.PENDING and record.decision is None
        result = await planner.resume(
            pause.resume_token, edited_args={"order_id": 42, "cents": 200}, tool_context=context
        )
    assert isinstance(result, PlannerFinish)
    [entry] = ledger.entries()
    assert entry["args"] == {"order_id": 42, "cents": 200}
    step = result.metadata["steps"][0]
    assert step["action"]["args"] == {"order_id": 42, "cents": 200}
    assert step["action"]["edited_by_reviewer"] is True


@pytest.mark.parametrize(
    ("decision", "fragment"),
    [
        ({}, "no decision for this call"),
        ({"approvals": {"call_9_9": True}}, "unknown call id"),
        (
            {"approve": False, "edited_args": {"order_id": 1, "cents": 1}},
            "both rejected and edited",
        ),
        ({"edited_args": [None, None]}, "2 entries"),
    ],
)
async def test_decisions_that_do_not_fit_release_the_pause(
    hitl_store: Any, ledger: Ledger, decision: dict[str, Any], fragment: str
) -> None:
    pause = await _paused(hitl_store, ledger)
    planner = build_planner(hitl_store, [final()])
    async with planner:
        with pytest.raises(ResumeDecisionError, match=fragment):
            await planner.resume(pause.resume_token, **decision)
        result = await planner.resume(
            pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
        )
    assert isinstance(result, PlannerFinish)
    assert ledger.count("refund") == 1


async def test_per_call_approvals_and_predicate_rules(hitl_store: Any, ledger: Ledger) -> None:
    context = {"ledger": str(ledger.path)}
    replies = [
        act("notify", {"text": "fyi"}),  # predicate says no approval: runs at once
        act("notify", {"text": "fire!", "urgent": True}),  # predicate: approval
    ]
    planner = build_planner(hitl_store, replies)
    async with planner:
        pause = await planner.run("tell them", tool_context=context)
    assert isinstance(pause, PlannerPause)
    assert ledger.count("notify") == 1
    [call] = pause.pending_calls
    assert call.call_id == "call_2_0" and call.args["urgent"] is True
    planner = build_planner(hitl_store, [final()])
    async with planner:
        result = await planner.resume(
            pause.resume_token, approvals={call.call_id: "not urgent enough"}, approve=True
        )
    assert isinstance(result, PlannerFinish)
    assert result.metadata["steps"][1]["error"] == "rejected by the reviewer: not urgent enough"
    assert ledger.count("notify") == 1


async def test_events_report_pause_and_resume(hitl_store: Any, ledger: Ledger) -> None:
    events: list[Any] = []
    planner = build_planner(hitl_store, [REFUND_ACTION], event_callback=events.append)
    async with planner:
        pause = await planner.run("refund", tool_context={"ledger": str(ledger.path)})
    assert isinstance(pause, PlannerPause)
    [paused] = [e for e in events if e.event_type == "pause"]
    assert paused.extra["pause_id"] == pause.pause_id
    assert paused.extra["calls"] == [{"call_id": "call_1_0", "tool": "refund", "kind": "approval"}]
    assert pause.resume_token not in repr([e.to_dict() for e in events])
    events.clear()
    planner = build_planner(hitl_store, [final()], event_callback=events.append)
    async with planner:
        await planner.resume(
            pause.resume_token, approve=True, tool_context={"ledger": str(ledger.path)}
        )
    kinds = [e.event_type for e in events]
    assert kinds[0] == "resume"
    assert events[0].extra["decisions"] == {"call_1_0": "approved"}
    assert "tool_call_result" in kinds and kinds[-1] == "finish"


async def test_approval_tools_need_a_store() -> None:
    with pytest.raises(StateStoreRequiredError, match="state_store"):
        build_planner(None, [])


async def test_no_secret_from_tool_context_reaches_the_store(
    hitl_store: Any, ledger: Ledger, db_url: str
) -> None:
    from hitl_helpers import SECRET

    planner = build_planner(hitl_store, [REFUND_ACTION])
    async with planner:
        pause = await planner.run(
            "refund", tool_context={"ledger": str(ledger.path), "api_key": SECRET}
        )
    assert isinstance(pause, PlannerPause)
    planner = build_planner(hitl_store, [final()])
    async with planner:
        await planner.resume(
            pause.resume_token,
            approve=True,
            tool_context={"ledger": str(ledger.path), "api_key": SECRET},
        )
    text = await dump_database(db_url)
    assert "refund" in text  # the dump does see the stored data
    assert SECRET not in text
    assert pause.resume_token not in text


async def test_resume_needs_a_store() -> None:
    planner = build_planner(None, [], exclude=("refund", "notify", "approved_summary"))
    async with planner:
        with pytest.raises(ValueError, match="state store"):
            await planner.resume("any-token", approve=True)


async def test_decision_values_must_be_json(hitl_store: Any, ledger: Ledger) -> None:
    planner = build_planner(hitl_store, [])
    async with planner:
        with pytest.raises(ValueError, match="plain JSON"):
            await planner.resume("any-token", user_input=object())
        with pytest.raises(ValueError, match="approve"):
            await planner.resume("any-token", approve="yes")  # type: ignore[arg-type]
