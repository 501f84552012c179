"""``penguiflow pauses``, ``runs`` and ``db upgrade`` against a SQLite file.

The store is seeded through the ``SqlSessionStore`` API (the CLI only reads it), then
the commands run as subprocesses, as an operator would run them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import penguiflow, penguiflow_inline

from penguiflow.sessions import SqlSessionStore

STATE = {
    "query": "Refund order A-7?",
    "steps": [
        {
            "index": 1,
            "kind": "tool",
            "action": {"next_node": "get_order", "args": {"order_id": "A-7"}, "thought": "look"},
            "observation": {"item": "kettle", "amount": 49.9},
            "latency_ms": 12.0,
        },
        {
            "index": 2,
            "kind": "tool",
            "action": {"next_node": "get_order", "args": {"order_id": "B-1"}},
            "error": "no order B-1",
        },
    ],
}


@pytest.fixture
async def seeded(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.sqlite3'}"
    async with SqlSessionStore(url) as store:
        run = await store.create_run(tenant_id="acme", session_id="s-1", state=STATE)
        ticket = await store.create_pause(
            run.run_id,
            tenant_id="acme",
            reason="approval_required",
            payload={"message": "refund needs approval"},
            pending_calls=[{"call_id": "call_3_0", "tool": "refund", "args": {"amount": 49.9}}],
            run_state=STATE,
            expected_run_version=run.version,
        )
        other = await store.create_run(tenant_id="globex", state={"query": "other tenant"})
        done = await store.create_run(tenant_id="acme", state={"query": "finished one"})
    return {
        "url": url,
        "run": run.run_id,
        "token": ticket.token,
        "pause": ticket.pause.pause_id,
        "other": other.run_id,
        "done": done.run_id,
    }


def test_pauses_list_shows_the_tenants_pending_pauses(tmp_path: Path, seeded) -> None:
    done = penguiflow("pauses", "list", "--store", seeded["url"], "--tenant", "acme", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert seeded["pause"] in done.stdout and seeded["run"] in done.stdout
    assert "approval_required" in done.stdout and "refund" in done.stdout
    assert seeded["token"] not in done.stdout  # tokens are never shown

    other = penguiflow(
        "pauses", "list", "--store", seeded["url"], "--tenant", "globex", cwd=tmp_path
    )
    assert other.returncode == 0 and "no pauses" in other.stdout


def test_pauses_list_json_and_status_filter(tmp_path: Path, seeded) -> None:
    pending = penguiflow_inline(
        "pauses",
        "list",
        "--json",
        "--status",
        "pending",
        "--all-tenants",
        "--store",
        seeded["url"],
        cwd=tmp_path,
    )
    records = json.loads(pending.stdout)
    assert [r["pause_id"] for r in records] == [seeded["pause"]]
    resolved = penguiflow_inline(
        "pauses",
        "list",
        "--json",
        "--status",
        "resolved",
        "--all-tenants",
        "--store",
        seeded["url"],
        cwd=tmp_path,
    )
    assert json.loads(resolved.stdout) == []


def test_pauses_show_by_token_or_by_id(tmp_path: Path, seeded) -> None:
    for key in (seeded["token"], seeded["pause"]):
        done = penguiflow_inline(
            "pauses", "show", key, "--store", seeded["url"], "--tenant", "acme", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert seeded["pause"] in done.stdout
        assert "pending" in done.stdout and "refund" in done.stdout and "49.9" in done.stdout
    wrong_tenant = penguiflow_inline(
        "pauses",
        "show",
        seeded["token"],
        "--store",
        seeded["url"],
        "--tenant",
        "globex",
        cwd=tmp_path,
    )
    assert wrong_tenant.returncode == 1
    assert "error:" in wrong_tenant.stderr


def test_runs_list_and_show_render_the_trajectory(tmp_path: Path, seeded) -> None:
    listing = penguiflow_inline(
        "runs", "list", "--store", seeded["url"], "--tenant", "acme", cwd=tmp_path
    )
    assert listing.returncode == 0, listing.stderr
    assert seeded["run"] in listing.stdout and seeded["done"] in listing.stdout
    assert seeded["other"] not in listing.stdout
    assert "Refund order A-7?" in listing.stdout

    paused_only = penguiflow_inline(
        "runs",
        "list",
        "--status",
        "paused",
        "--json",
        "--store",
        seeded["url"],
        "--tenant",
        "acme",
        cwd=tmp_path,
    )
    assert [r["run_id"] for r in json.loads(paused_only.stdout)] == [seeded["run"]]

    shown = penguiflow_inline(
        "runs", "show", seeded["run"], "--store", seeded["url"], "--tenant", "acme", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "query: Refund order A-7?" in text
    assert "1. get_order (tool)" in text and "12 ms" in text
    assert 'args:    {"order_id": "A-7"}' in text
    assert "thought: look" in text
    assert '"item": "kettle"' in text
    assert "error:   no order B-1" in text
    assert f"pause {seeded['pause']} (approval_required): pending" in text


def test_runs_show_of_another_tenant_is_not_found(tmp_path: Path, seeded) -> None:
    done = penguiflow_inline(
        "runs", "show", seeded["other"], "--store", seeded["url"], "--tenant", "acme", cwd=tmp_path
    )
    assert done.returncode == 1
    assert seeded["other"] in done.stderr or "not found" in done.stderr.lower()


def test_db_upgrade_creates_the_schema_then_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    first = penguiflow_inline("db", "upgrade", "--store", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "schema is up to date" in first.stdout
    assert (tmp_path / "fresh.sqlite3").exists()
    again = penguiflow_inline("db", "upgrade", "--store", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    listing = penguiflow_inline("runs", "list", "--store", url, cwd=tmp_path)
    assert listing.returncode == 0 and "no runs" in listing.stdout


def test_db_upgrade_uses_the_configs_store_and_the_default(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text(
        '[store]\nurl = "sqlite+aiosqlite:///from-config.sqlite3"\n'
    )
    done = penguiflow_inline("db", "upgrade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-config.sqlite3").exists()
    (tmp_path / "agent.toml").unlink()
    done = penguiflow_inline("db", "upgrade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "penguiflow.sqlite3").exists()


def test_db_upgrade_refuses_a_bad_url(tmp_path: Path) -> None:
    done = penguiflow_inline("db", "upgrade", "--store", "mysql://x/y", cwd=tmp_path)
    assert done.returncode == 2
    assert "SQLite and PostgreSQL" in done.stderr
