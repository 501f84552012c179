"""StateStore protocol (events, remote bindings) and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from session_helpers import FakeClock, run_sql

from penguiflow.errors import ConfigError
from penguiflow.sessions import RunStatus, SqlSessionStore
from penguiflow.sessions.errors import CorruptRecordError
from penguiflow.state import RemoteBinding, StateStore, StoredEvent


def _event(trace: str, kind: str, **payload: object) -> StoredEvent:
    return StoredEvent(
        trace_id=trace, ts=1.5, kind=kind, node_name="n", node_id="n-1", payload=payload
    )


async def test_events_roundtrip_in_order(store: SqlSessionStore) -> None:
    assert isinstance(store, StateStore)
    for i in range(5):
        await store.save_event(_event("tr1", f"k{i}", i=i))
    await store.save_event(_event("tr2", "other"))
    await store.save_event(StoredEvent(None, 2.0, "bare", None, None))
    history = await store.load_history("tr1")
    assert [e.kind for e in history] == [f"k{i}" for i in range(5)]
    assert history[2] == _event("tr1", "k2", i=2)
    assert await store.load_history("missing") == []


async def test_event_payload_not_json_is_stored_as_repr(store: SqlSessionStore) -> None:
    await store.save_event(_event("tr", "k", obj={1, 2}))
    (event,) = await store.load_history("tr")
    assert event.payload == {"obj": "{1, 2}"}


async def test_corrupt_event(store: SqlSessionStore, db_url: str) -> None:
    await store.save_event(_event("tr", "k"))
    await run_sql(db_url, "UPDATE penguiflow_events SET payload = 'nope'")
    with pytest.raises(CorruptRecordError, match="penguiflow_events"):
        await store.load_history("tr")


async def test_remote_bindings(store: SqlSessionStore) -> None:
    binding = RemoteBinding(trace_id="tr", context_id=None, task_id="t1", agent_url="http://a")
    await store.save_remote_binding(binding)
    assert await store.load_remote_bindings("tr") == [binding]


async def test_prune(clocked_store: SqlSessionStore, clock: FakeClock) -> None:
    store = clocked_store
    old_done = await store.create_run(status=RunStatus.FINISHED)
    await store.journal_begin(old_done.run_id, "h", tool="t", args={})
    old_running = await store.create_run()
    paused = await store.create_run()
    expiring = await store.create_pause(
        paused.run_id,
        reason="r",
        run_state={},
        expected_run_version=1,
        expires_at=timedelta(hours=1),
    )
    live = await store.create_run()
    live_pause = await store.create_pause(
        live.run_id, reason="r", run_state={}, expected_run_version=1
    )
    await store.save_event(_event("tr", "old"))
    await store.save_remote_binding(RemoteBinding("tr", None, "task", "http://a"))
    clock.advance(3 * 86400)
    new_done = await store.create_run(status=RunStatus.FAILED)
    await store.save_event(_event("tr", "new"))

    result = await store.prune(older_than=timedelta(days=1))

    assert (result.runs, result.journal_entries, result.events, result.remote_bindings) == (
        1,
        1,
        1,
        1,
    )
    assert result.pauses == 1  # the expired one; the live pause stays
    remaining = {r.run_id for r in await store.list_runs()}
    assert remaining == {old_running.run_id, paused.run_id, live.run_id, new_done.run_id}
    assert [p.pause_id for p in await store.list_pauses()] == [live_pause.pause.pause_id]
    assert [e.kind for e in await store.load_history("tr")] == ["new"]
    assert await store.journal_get(old_done.run_id, "h") is None
    assert expiring.pause.pause_id not in {p.pause_id for p in await store.list_pauses()}
    again = await store.prune(older_than=timedelta(days=1))
    assert again.runs == again.pauses == again.events == 0


async def test_prune_removes_resolved_pauses(
    clocked_store: SqlSessionStore, clock: FakeClock
) -> None:
    run = await clocked_store.create_run()
    ticket = await clocked_store.create_pause(
        run.run_id, reason="r", run_state={}, expected_run_version=1
    )
    claim = await clocked_store.claim_pause(ticket.token)
    await clocked_store.complete_pause(
        claim, run_state={}, run_status=RunStatus.FINISHED, expected_run_version=2
    )
    assert (await clocked_store.prune(older_than=timedelta(hours=1))).pauses == 0
    clock.advance(7200)
    result = await clocked_store.prune(older_than=timedelta(hours=1))
    assert (result.pauses, result.runs) == (1, 1)


async def test_prune_rejects_bad_age(store: SqlSessionStore) -> None:
    with pytest.raises(ConfigError, match="older_than"):
        await store.prune(older_than=timedelta(seconds=-1))
    with pytest.raises(ConfigError, match="older_than"):
        await store.prune(older_than=3600)  # type: ignore[arg-type]
