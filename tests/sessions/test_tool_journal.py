"""The tool-call journal: a completed call is never executed again."""

from __future__ import annotations

import pytest
from session_helpers import run_sql

from penguiflow.errors import ConfigError
from penguiflow.sessions import SqlSessionStore
from penguiflow.sessions.errors import CorruptRecordError, UnserializableRecordError
from penguiflow.sessions.models import JournalStatus


async def test_begin_complete_then_replay(store: SqlSessionStore) -> None:
    first = await store.journal_begin("run1", "h1", tool="send_email", args={"to": "a@b"})
    assert first.is_new and first.previous_status is None and not first.completed
    assert first.entry.status is JournalStatus.STARTED and first.entry.attempts == 1
    done = await store.journal_complete("run1", "h1", result={"message_id": "m-1"})
    assert done.status is JournalStatus.COMPLETED and done.result == {"message_id": "m-1"}
    replay = await store.journal_begin("run1", "h1", tool="send_email", args={"to": "a@b"})
    assert replay.completed and not replay.is_new
    assert replay.previous_status is JournalStatus.COMPLETED
    assert replay.entry.result == {"message_id": "m-1"} and replay.entry.attempts == 1
    with pytest.raises(ConfigError, match="already completed"):
        await store.journal_complete("run1", "h1", result="other")
    with pytest.raises(ConfigError, match="already completed"):
        await store.journal_fail("run1", "h1", error={"type": "X"})


async def test_crashed_attempt_is_reported(store: SqlSessionStore) -> None:
    await store.journal_begin("run1", "h1", tool="charge", args={"cents": 5})
    # the worker died here: no complete/fail recorded
    again = await store.journal_begin("run1", "h1", tool="charge", args={"cents": 5})
    assert not again.is_new and again.previous_status is JournalStatus.STARTED
    assert again.entry.attempts == 2 and not again.completed


async def test_failed_call_can_be_retried(store: SqlSessionStore) -> None:
    await store.journal_begin("run1", "h1", tool="t", args={})
    failed = await store.journal_fail("run1", "h1", error={"type": "Timeout"})
    assert failed.status is JournalStatus.FAILED and failed.error == {"type": "Timeout"}
    retry = await store.journal_begin("run1", "h1", tool="t", args={})
    assert retry.previous_status is JournalStatus.FAILED
    assert retry.entry.status is JournalStatus.STARTED and retry.entry.attempts == 2
    done = await store.journal_complete("run1", "h1", result=[1, 2, None])
    assert done.result == [1, 2, None]
    assert (await store.journal_get("run1", "h1")) == done


async def test_keys_are_per_run(store: SqlSessionStore) -> None:
    await store.journal_begin("run1", "h1", tool="t", args={})
    other = await store.journal_begin("run2", "h1", tool="t", args={})
    assert other.is_new
    assert await store.journal_get("run3", "h1") is None


async def test_errors(store: SqlSessionStore, db_url: str) -> None:
    with pytest.raises(ConfigError, match="never begun"):
        await store.journal_complete("run1", "nope", result=1)
    with pytest.raises(UnserializableRecordError):
        await store.journal_begin("run1", "h1", tool="t", args={"x": {1, 2}})
    await store.journal_begin("run1", "h2", tool="t", args={})
    with pytest.raises(UnserializableRecordError):
        await store.journal_complete("run1", "h2", result=object())
    await store.journal_complete("run1", "h2", result="ok")
    await run_sql(db_url, "UPDATE penguiflow_tool_journal SET result = 'oops'")
    with pytest.raises(CorruptRecordError, match="run1/h2"):
        await store.journal_begin("run1", "h2", tool="t", args={})
