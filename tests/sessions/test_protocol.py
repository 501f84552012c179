"""The SessionStore protocol, the store's parts, the package's exports and the old error names."""

from __future__ import annotations

import importlib
import pickle
import warnings
from datetime import timedelta

import pytest

import penguiflow.sessions as sessions
import penguiflow.sessions.errors as sessions_errors
from penguiflow.memory import MemoryKey, MemoryStore
from penguiflow.sessions import (
    JournalStore,
    PauseAlreadyClaimedError,
    PauseAlreadyResumedError,
    PauseExpiredError,
    PauseNotFoundError,
    PauseStatus,
    PauseStore,
    RunStatus,
    RunStore,
    SessionStore,
    SqlSessionStore,
)
from penguiflow.sessions.errors import PauseLeaseLostError, StoreClosedError, StoreStateError
from penguiflow.state import StateStore, StoredEvent

OLD_NAMES = {
    "PauseNotFound": PauseNotFoundError,
    "PauseExpired": PauseExpiredError,
    "PauseLeaseLost": PauseLeaseLostError,
    "PauseAlreadyClaimed": PauseAlreadyClaimedError,
    "PauseAlreadyResumed": PauseAlreadyResumedError,
}


def test_the_store_and_its_parts_are_the_stores_they_say(sqlite_url: str) -> None:
    store = SqlSessionStore(sqlite_url)
    for protocol in (SessionStore, RunStore, PauseStore, JournalStore, StateStore, MemoryStore):
        assert isinstance(store, protocol), protocol.__name__
    assert isinstance(store.runs, RunStore)
    assert isinstance(store.pauses, PauseStore)
    assert isinstance(store.journal, JournalStore)
    assert isinstance(store.memory, MemoryStore)
    assert isinstance(store.events, StateStore)
    assert not isinstance(store.runs, SessionStore)  # one part is not the whole store
    assert not isinstance(store.memory, SessionStore)


async def test_parts_share_one_database_and_transactions(store: SqlSessionStore) -> None:
    run = await store.runs.create_run(tenant_id="acme", state={"step": 0})
    ticket = await store.pauses.create_pause(
        run.run_id,
        tenant_id="acme",
        reason="approval_required",
        run_state={"step": 1},
        expected_run_version=run.version,
    )
    assert (await store.get_run(run.run_id)).status is RunStatus.PAUSED
    claim = await store.claim_pause(ticket.token, tenant_id="acme", decision={"ok": True})
    begun = await store.journal.journal_begin(
        run.run_id, "h1", tool="refund", args={}, tenant_id="acme"
    )
    assert begun.is_new
    await store.journal_complete(run.run_id, "h1", result={"done": True}, tenant_id="acme")
    assert (await store.journal.journal_get(run.run_id, "h1", tenant_id="acme")) is not None
    done = await store.pauses.complete_pause(
        claim,
        run_state={"step": 2},
        run_status=RunStatus.FINISHED,
        expected_run_version=ticket.run_version,
    )
    assert done.version == ticket.run_version + 1
    [pause] = await store.list_pauses(tenant_id="acme", status=PauseStatus.RESOLVED)
    assert pause.pause_id == ticket.pause.pause_id
    key = MemoryKey(tenant_id="acme", user_id="u", session_id="s")
    version = await store.memory.save_memory(key, {"turns": []}, expected_version=0)
    assert await store.load_memory(key) == ({"turns": []}, version)
    event = StoredEvent(trace_id="t", ts=1.0, kind="node_start", node_name="a", node_id="1")
    await store.events.save_event(event)
    assert [e.kind for e in await store.load_history("t")] == ["node_start"]
    result = await store.prune(older_than=timedelta(0))
    assert (result.runs, result.pauses, result.journal_entries) == (1, 1, 1)


async def test_parts_follow_the_stores_lifecycle(sqlite_url: str) -> None:
    store = SqlSessionStore(sqlite_url)
    with pytest.raises(StoreStateError, match=r"list_runs\(\) needs an open store"):
        await store.runs.list_runs()
    with pytest.raises(StoreStateError, match="engine"):
        _ = store.engine
    async with store:
        assert store.engine.url.get_backend_name() == "sqlite"
        await store.credentials.save_user_credential(
            tenant_id="t", user_id="u", provider="p", secret="ciphertext"
        )
        found = await store.load_user_credential(tenant_id="t", user_id="u", provider="p")
        assert found is not None and found.secret == "ciphertext"
    with pytest.raises(StoreClosedError, match="after close"):
        await store.pauses.list_pauses()
    with pytest.raises(StoreClosedError):
        _ = store.engine


def test_exports_are_what_users_write() -> None:
    assert sessions.__all__ == sorted(sessions.__all__, key=lambda s: (not s.isupper(), s))
    for name in sessions.__all__:
        assert getattr(sessions, name) is not None, name
    for name in ("SqlSessionStore", "SessionStore", "PauseNotFoundError", "RunRecord"):
        assert name in sessions.__all__
    internal = {
        "MemoryKeyLike": "penguiflow.sessions.models",
        "OAuthStateRecord": "penguiflow.sessions._credentials",
        "UserCredentialRecord": "penguiflow.sessions._credentials",
        "DEFAULT_URL": "penguiflow.sessions.store",
    }
    for name, module in internal.items():
        assert name not in sessions.__all__
        assert getattr(importlib.import_module(module), name) is not None
    assert not set(OLD_NAMES) & set(sessions.__all__)


@pytest.mark.parametrize("module", ["penguiflow.sessions", "penguiflow.sessions.errors"])
@pytest.mark.parametrize(("old", "new"), list(OLD_NAMES.items()))
def test_old_error_names_warn_and_are_the_new_classes(
    module: str, old: str, new: type[Exception]
) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; use {new.__name__}"):
        cls = getattr(importlib.import_module(module), old)
    assert cls is new


def test_old_names_still_catch_the_errors_raised() -> None:
    with pytest.warns(DeprecationWarning):
        from penguiflow.sessions import PauseAlreadyClaimed
    error = PauseAlreadyResumedError(pause_id="p", run_id="r", outcome={"a": 1}, resolved_at=None)
    with pytest.raises(PauseAlreadyClaimed):
        raise error
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is PauseAlreadyResumedError and copy.outcome == {"a": 1}


def test_new_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in OLD_NAMES.values():
            owner = sessions if name.__name__ in sessions.__all__ else sessions_errors
            assert getattr(owner, name.__name__) is name
    with pytest.raises(AttributeError, match="no attribute 'PauseMissing'"):
        _ = sessions.PauseMissing  # type: ignore[attr-defined]
