"""Fixtures of the telemetry tests: telemetry installed with in-memory readers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from otel_support import Collected, collecting

from penguiflow.sessions import SqlSessionStore


@pytest.fixture
def otel() -> Iterator[Collected]:
    """Telemetry on for the test (content not captured)."""
    with collecting() as collected:
        yield collected


@pytest.fixture
async def store(migrated_sqlite_url: str) -> AsyncIterator[Any]:
    async with SqlSessionStore(migrated_sqlite_url) as opened:
        yield opened
