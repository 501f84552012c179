"""``penguiflow runs recover``: runs whose process died are continued, exactly once.

The stale runs are seeded through the ``SqlSessionStore`` API, as a process that died
would have left them: ``running``, owned by it, with a lease that lapsed an hour ago.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from cli_support import penguiflow, penguiflow_inline, token_of

from penguiflow.planner.run_state import RunState
from penguiflow.sessions import RunRecord, RunStatus, SqlSessionStore


async def _stale(url: str, run_id: str, query: str, tenant: str = "default") -> None:
    an_hour_ago = time.time() - 3600
    state = RunState(run_id=run_id, tenant_id=tenant, query=query).model_dump(mode="json")
    async with SqlSessionStore(url, clock=lambda: an_hour_ago) as store:
        await store.create_run(
            run_id=run_id, tenant_id=tenant, state=state, owner_id="dead-host:1:x", lease_s=60
        )


@pytest.fixture
def url(agent_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{agent_dir / 'penguiflow.sqlite3'}"


def test_recover_continues_the_stale_runs_of_the_tenant(agent_dir: Path, url: str) -> None:
    asyncio.run(_stale(url, "stale-1", "please add 2 and 3"))
    asyncio.run(_stale(url, "stale-2", "add 1 and 1", tenant="globex"))
    done = penguiflow("runs", "recover", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "run stale-1 (tenant default): finished (answer_complete): The sum is 5."
    ]
    again = penguiflow_inline("runs", "recover", cwd=agent_dir)
    assert (again.returncode, again.stdout.strip()) == (0, "no runs to recover")

    every = penguiflow_inline("runs", "recover", "--all-tenants", "--json", cwd=agent_dir)
    assert every.returncode == 0, every.stderr
    [item] = json.loads(every.stdout)
    assert (item["run_id"], item["tenant"], item["status"]) == ("stale-2", "globex", "finished")
    assert item["answer"] == "The sum is 2."
    for run_id, tenant in (("stale-1", "default"), ("stale-2", "globex")):
        run = asyncio.run(_run(url, run_id, tenant))
        assert run.status is RunStatus.FINISHED and run.owner_id is None


async def _run(url: str, run_id: str, tenant: str) -> RunRecord:
    async with SqlSessionStore(url) as store:
        return await store.get_run(run_id, tenant_id=tenant)


def test_a_recovered_run_that_pauses_prints_its_token(agent_dir: Path, url: str) -> None:
    asyncio.run(_stale(url, "stale-3", "transfer 7 to bob"))
    paused = penguiflow_inline("runs", "recover", cwd=agent_dir)
    assert paused.returncode == 3, paused.stderr
    assert paused.stdout.startswith("run stale-3 (tenant default): paused (approval_required)")
    resumed = penguiflow_inline("resume", token_of(paused.stdout), "--approve", cwd=agent_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "Transferred 7 to bob." in resumed.stdout


def test_recover_refuses_a_bad_limit(agent_dir: Path) -> None:
    bad = penguiflow_inline("runs", "recover", "--limit", "0", cwd=agent_dir)
    assert bad.returncode == 2
    assert "--limit must be a whole number >= 1, got 0" in bad.stderr
