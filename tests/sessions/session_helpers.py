"""Helpers shared by the session-store tests (imported by name; pytest puts this
directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """A controllable clock (UNIX seconds) for expiry and lease tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def run_sql(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    """Run raw SQL on a database outside the store (to damage or inspect rows)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()
