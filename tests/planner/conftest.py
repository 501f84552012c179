"""Fixtures of the planner tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from planner_helpers import PlannerFactory, basic_tools

from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.testing import ScriptedLLM


@pytest.fixture
async def make_planner(tool_mode: str) -> AsyncIterator[PlannerFactory]:
    """Builds planners over the basic tools with a ScriptedLLM, in the ``tool_mode``."""
    planners: list[ReactPlanner] = []

    def factory(replies: list[Any], **kwargs: Any) -> tuple[ReactPlanner, ScriptedLLM]:
        kwargs.setdefault("tool_mode", tool_mode)
        llm = kwargs.pop("llm_client", None) or ScriptedLLM(replies)
        if "catalog" not in kwargs and "nodes" not in kwargs:
            nodes, registry = basic_tools(
                hang_policy=kwargs.pop("hang_policy", None),
                broken_policy=kwargs.pop("broken_policy", None),
            )
            kwargs["nodes"], kwargs["registry"] = nodes, registry
        planner = ReactPlanner(llm_client=llm, **kwargs)
        planners.append(planner)
        return planner, llm

    yield factory
    for planner in planners:
        await planner.aclose()


# -- pause/resume (human in the loop) ---------------------------------------------------


@pytest.fixture
def planner_mode(tool_mode: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Makes ``hitl_helpers.build_planner`` (here and in worker processes) use ``tool_mode``."""
    from hitl_helpers import MODE_VARIABLE

    monkeypatch.setenv(MODE_VARIABLE, tool_mode)
    return tool_mode


@pytest.fixture
async def hitl_store(db_url: str) -> AsyncIterator[Any]:
    """An open SqlSessionStore, once per backend (SQLite file, PostgreSQL)."""
    from penguiflow.sessions import SqlSessionStore

    async with SqlSessionStore(db_url) as store:
        yield store


@pytest.fixture
def ledger(tmp_path: Any) -> Any:
    """Records the side effects of the HITL test tools (a file, readable across processes)."""
    from hitl_helpers import Ledger

    return Ledger(tmp_path / "ledger.jsonl")
