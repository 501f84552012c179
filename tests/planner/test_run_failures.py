"""A run that fails for any reason is stored as ``failed`` (or ``cancelled``) with the
error recorded, never left ``running`` (SQLite + PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hitl_helpers import act, final, run_sql
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import LLMError, PlannerFinish, ReactPlanner, ScriptedLLM, ToolContext
from penguiflow.planner.errors import PauseCommitError
from penguiflow.sessions import RunStatus, SqlSessionStore
from penguiflow.sessions.errors import StoreBackendError


class TextArgs(BaseModel):
    text: str


class Echoed(BaseModel):
    text: str


@tool(desc="Echo a text, with a character no database can store")
async def broken_echo(args: TextArgs, ctx: ToolContext) -> Echoed:
    return Echoed(text=args.text + " \ud800")


@tool(desc="Needs a human first", side_effects="write", requires_approval=True)
async def needs_approval(args: TextArgs, ctx: ToolContext) -> Echoed:
    return Echoed(text=args.text)


@tool(desc="Wait until told to go on")
async def wait_here(args: TextArgs, ctx: ToolContext) -> Echoed:
    ctx.tool_context["started"].set()
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _planner(store: Any, replies: list[Any], **kwargs: Any) -> ReactPlanner:
    registry = ModelRegistry()
    registry.register("broken_echo", TextArgs, Echoed)
    registry.register("wait_here", TextArgs, Echoed)
    registry.register("needs_approval", TextArgs, Echoed)
    tools = [
        (broken_echo, "broken_echo"),
        (wait_here, "wait_here"),
        (needs_approval, "needs_approval"),
    ]
    return ReactPlanner(
        llm_client=kwargs.pop("llm_client", None) or ScriptedLLM(replies),
        nodes=[Node(fn, name=name) for fn, name in tools],
        registry=registry,
        state_store=store,
        **kwargs,
    )


class FlakyStore(SqlSessionStore):
    """A real store whose first ``save_run`` calls fail as if the database were away."""

    failures = 0

    async def save_run(self, run_id: str, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise StoreBackendError(operation="save_run", detail="ConnectionError: gone")
        return await super().save_run(run_id, **kwargs)


async def _refuse(url: str, status: str) -> None:
    """Make the database refuse to save any run as ``status`` (a trigger)."""
    if url.startswith("sqlite"):
        await run_sql(
            url,
            f"CREATE TRIGGER refuse BEFORE UPDATE ON penguiflow_runs WHEN NEW.status = "
            f"'{status}' BEGIN SELECT RAISE(ABORT, 'refused by the database'); END",
        )
        return
    await run_sql(
        url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.status = '{status}' THEN RAISE EXCEPTION 'refused by the database'; "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE UPDATE ON penguiflow_runs FOR EACH ROW "
        "EXECUTE FUNCTION refuse()",
    )


async def test_a_finished_run_the_database_will_not_save_is_stored_failed(
    empty_db_url: str,
) -> None:
    async with SqlSessionStore(empty_db_url) as store:
        await _refuse(empty_db_url, "finished")
        async with _planner(store, [final("the answer")]) as p:
            result = await p.run("q", run_id="r-1", tenant_id="acme")
        assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
        run = await store.get_run("r-1", tenant_id="acme")
    assert run.status is RunStatus.FAILED and run.owner_id is None
    assert run.error is not None and "refused by the database" in run.error
    assert run.error.startswith("the finished run's state could not be stored")


async def test_a_pause_the_database_will_not_commit_leaves_the_run_failed(
    empty_db_url: str,
) -> None:
    async with SqlSessionStore(empty_db_url) as store:
        await _refuse(empty_db_url, "paused")
        async with _planner(store, [act("needs_approval", {"text": "go"})]) as p:
            with pytest.raises(PauseCommitError):
                await p.run("ask first", run_id="r-1", tenant_id="acme")
        run = await store.get_run("r-1", tenant_id="acme")
        assert await store.list_pauses(tenant_id="acme") == []
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.startswith("PauseCommitError: ")


async def test_a_failure_whose_state_cannot_be_saved_is_still_recorded(
    hitl_store: SqlSessionStore,
) -> None:
    replies = [act("broken_echo", {"text": "hi"}), LLMError("the provider is down")]
    async with _planner(hitl_store, replies) as p:
        with pytest.raises(Exception) as raised:
            await p.run("echo", run_id="r-1", tenant_id="acme")
    run = await hitl_store.get_run("r-1", tenant_id="acme")
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.startswith(type(raised.value).__name__)
    assert run.state["query"] == "echo" and run.state["steps"] == []  # the last stored state


async def test_a_briefly_unavailable_database_is_retried(db_url: str) -> None:
    async with FlakyStore(db_url) as store:
        store.failures = 2
        async with _planner(store, [final("done")]) as p:
            result = await p.run("q", run_id="r-1")
        assert isinstance(result, PlannerFinish)
        run = await store.get_run("r-1")
    assert run.status is RunStatus.FINISHED and run.error is None


async def test_a_database_down_while_failing_is_retried(db_url: str) -> None:
    async with FlakyStore(db_url) as store:
        async with _planner(store, [LLMError("the provider is down")]) as p:
            store.failures = 2
            with pytest.raises(LLMError):
                await p.run("q", run_id="r-1")
        run = await store.get_run("r-1")
    assert run.status is RunStatus.FAILED
    assert run.error is not None and "the provider is down" in run.error


async def test_a_cancelled_run_is_stored_cancelled(hitl_store: SqlSessionStore) -> None:
    started = asyncio.Event()
    async with _planner(hitl_store, [act("wait_here", {"text": "x"})]) as p:
        task = asyncio.create_task(p.run("wait", run_id="r-1", tool_context={"started": started}))
        await asyncio.wait_for(started.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run = await hitl_store.get_run("r-1")
    assert run.status is RunStatus.CANCELLED and run.owner_id is None
