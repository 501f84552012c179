"""Store overhead of a pause and a resume, against raw SQLAlchemy on the same engine.

Ours, per round: commit a pause (``create_pause``: the run's state and the pause in one
transaction, a new token) plus resume it (``claim_pause``: the exactly-once conditional
UPDATE with its lease, then restoring the ``RunState`` and the pending step). Baseline:
a raw SQLAlchemy INSERT of a row holding the same serialised state, then a conditional
UPDATE of that row, each in its own write transaction on the same engine (SQLite file).

Both are wall time per round (the database work runs in aiosqlite's thread), best of
several rounds, interleaved. Target: ours / baseline <= 3x.
Run: ``python bench/bench_hitl.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, update

from penguiflow.planner._approval import PendingStep
from penguiflow.planner.run_state import RunState
from penguiflow.sessions import SqlSessionStore

_metadata = MetaData()
_baseline = Table(
    "bench_baseline",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("state", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
)


def _state() -> dict[str, Any]:
    state = RunState(query="refund order 42 because it was charged twice")
    for index in range(4):
        state.add_step(
            kind="tool",
            action={"next_node": "lookup", "args": {"order_id": 42, "step": index}},
            observation={"order": 42, "items": ["a", "b", "c"], "total": 2500},
            latency_ms=1.5,
        )
    call = {
        "call_id": "call_5_0",
        "kind": "approval",
        "tool": "refund",
        "args": {"order_id": 42, "cents": 2500},
        "call_hash": "0" * 64,
    }
    pending = {"kind": "tool", "action": {"next_node": "refund", "args": call["args"]}}
    state.extensions["hitl"] = {"pending": {**pending, "calls": [call]}}
    return state.model_dump(mode="json")


async def _ours(store: SqlSessionStore, run_id: str, version: int, state: dict[str, Any]) -> int:
    call = state["extensions"]["hitl"]["pending"]["calls"][0]
    ticket = await store.create_pause(
        run_id,
        reason="approval_required",
        pending_calls=[call],
        run_state=state,
        expected_run_version=version,
    )
    claim = await store.claim_pause(ticket.token, decision={"approve": True})
    restored = RunState.model_validate(claim.run.state)
    PendingStep.model_validate(restored.extensions["hitl"]["pending"])
    return claim.run.version


async def _raw(engine: Any, state_text: str) -> None:
    row_id = uuid.uuid4().hex
    async with engine.connect() as conn:
        await conn.execution_options(penguiflow_write=True)
        async with conn.begin():
            await conn.execute(
                insert(_baseline).values(id=row_id, state=state_text, status="pending", version=1)
            )
    async with engine.connect() as conn:
        await conn.execution_options(penguiflow_write=True)
        async with conn.begin():
            result = await conn.execute(
                update(_baseline)
                .where(_baseline.c.id == row_id, _baseline.c.status == "pending")
                .values(status="claimed", version=_baseline.c.version + 1)
            )
            assert result.rowcount == 1


async def measure(rounds: int, per_round: int) -> tuple[float, float]:
    state = _state()
    state_text = json.dumps({"schema_version": 1, "data": state}, separators=(",", ":"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        async with SqlSessionStore(url) as store:
            engine = store.engine  # the same engine, with the store's SQLite settings
            async with engine.begin() as conn:
                await conn.run_sync(_metadata.create_all)
            run = await store.create_run(state=state)
            version = run.version
            ours = base = float("inf")
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(per_round):
                    version = await _ours(store, run.run_id, version, state)
                ours = min(ours, (time.perf_counter() - started) / per_round)
                started = time.perf_counter()
                for _ in range(per_round):
                    await _raw(engine, state_text)
                base = min(base, (time.perf_counter() - started) / per_round)
    return ours, base


def main() -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ns, _ = parser.parse_known_args()
    rounds, per_round = (2, 10) if ns.quick else (ns.rounds, ns.per_round)
    ours, base = asyncio.run(measure(rounds, per_round))
    ratio = ours / base
    verdict = "ok" if ratio <= 3.0 else "OVER TARGET"
    print(f"-- pause + resume store overhead on SQLite, best of {rounds} x {per_round}")
    print(f"  pause commit + claim + restore: {ours * 1e3:8.3f} ms")
    print(f"  raw insert + conditional update: {base * 1e3:8.3f} ms")
    print(f"  ratio {ratio:.2f}x (target <= 3x) {verdict}")
    return ratio <= 3.0


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
