"""The planner needs nothing from its store beyond the SessionStore and MemoryStore protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hitl_helpers import Ledger, build_planner, final, parallel
from typing_extensions import get_protocol_members

from penguiflow.memory import MemoryBudget, MemoryKey, MemoryStore, ShortTermMemoryConfig
from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.planner.errors import ResumeDecisionError
from penguiflow.sessions import RunStatus, SessionStore, SqlSessionStore

KEY = MemoryKey(tenant_id="default", user_id="u1", session_id="s1")
MEMORY = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=5))


class ProtocolOnlyStore:
    """Passes the protocols' methods to a real store; any other attribute does not exist."""

    def __init__(self, inner: SqlSessionStore, *protocols: type) -> None:
        self._inner = inner
        self._allowed = set().union(*(get_protocol_members(p) for p in protocols))
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_") or name not in self._allowed:
            raise AttributeError(f"the planner used {name!r}, which no store protocol has")
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return call


async def test_pause_repause_and_resume_through_the_protocols_only(
    hitl_store: SqlSessionStore, ledger: Ledger
) -> None:
    store = ProtocolOnlyStore(hitl_store, SessionStore, MemoryStore)
    assert isinstance(store, SessionStore) and isinstance(store, MemoryStore)
    tools = {"ledger": str(ledger.path)}
    plan = parallel(
        [("refund", {"order_id": 7, "cents": 9})],
        join={"node": "approved_summary", "args": {}, "inject": {"reports": "$results"}},
    )
    planner = build_planner(
        store, [plan, final("refunded and summarised")], short_term_memory=MEMORY
    )
    async with planner:
        first = await planner.run("refund order 7", memory_key=KEY, tool_context=tools)
        assert isinstance(first, PlannerPause)
        with pytest.raises(ResumeDecisionError):  # the pause is given back
            await planner.resume(first.resume_token, edited_args={"order_id": "x"})
        second = await planner.resume(first.resume_token, approve=True, tool_context=tools)
        assert isinstance(second, PlannerPause)  # the join needs approval too
        assert second.pending_calls[0].tool == "approved_summary"
        done = await planner.resume(second.resume_token, approve=True, tool_context=tools)
    assert isinstance(done, PlannerFinish)
    assert ledger.count("refund") == 1 and ledger.count("approved_summary") == 1
    assert (await hitl_store.get_run(first.run_id)).status is RunStatus.FINISHED
    state, _ = await hitl_store.load_memory(KEY)
    assert state is not None and "refunded and summarised" in str(state)
    used = set(store.calls)
    assert {"create_run", "create_pause", "claim_pause", "release_pause", "repause"} <= used
    assert {"complete_pause", "journal_begin", "journal_complete", "save_run"} <= used
    assert {"load_memory", "save_memory"} <= used


async def test_a_memory_only_store_holds_memory_but_no_pauses(hitl_store: SqlSessionStore) -> None:
    from penguiflow.planner.errors import StateStoreRequiredError

    store = ProtocolOnlyStore(hitl_store, MemoryStore)
    assert not isinstance(store, SessionStore)
    with pytest.raises(StateStoreRequiredError, match="refund"):
        build_planner(store, [], short_term_memory=MEMORY)
    planner = build_planner(
        store,
        [final("hello")],
        short_term_memory=MEMORY,
        exclude=("refund", "notify", "approved_summary"),
    )
    async with planner:
        result = await planner.run("hi", memory_key=KEY)
    assert isinstance(result, PlannerFinish)
    assert set(store.calls) == {"load_memory", "save_memory"}
