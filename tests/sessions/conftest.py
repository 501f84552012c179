"""Fixtures of the session-store tests (the database fixtures live in tests/pg_fixture.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from session_helpers import FakeClock

from penguiflow.sessions import SqlSessionStore


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlSessionStore]:
    """An open store on a fresh database, once per backend."""
    async with SqlSessionStore(db_url) as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked_store(db_url: str, clock: FakeClock) -> AsyncIterator[SqlSessionStore]:
    """An open store whose clock the test controls, once per backend."""
    async with SqlSessionStore(db_url, clock=clock) as opened:
        yield opened
