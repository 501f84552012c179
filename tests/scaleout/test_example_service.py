"""examples/fastapi_service: pause a refund over HTTP, list the pause, approve or reject it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from scaleout_helpers import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PENGUIFLOW_DB": f"sqlite+aiosqlite:///{tmp_path / 'refunds.sqlite3'}"}
    env.pop("PENGUIFLOW_MODEL", None)
    proc = subprocess.Popen(
        [sys.executable, "examples/fastapi_service/app.py", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"the example exited: {proc.stderr.read() if proc.stderr else ''}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the example did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        # uvicorn exits gracefully, then re-raises the SIGTERM it handled.
        assert proc.returncode in (0, -signal.SIGTERM), err
        assert "Traceback" not in err, err


async def test_refund_waits_for_approval_then_runs(service: str) -> None:
    acme = {"X-Tenant-ID": "acme"}
    async with httpx.AsyncClient(base_url=f"{service}/agent", timeout=30) as http:
        paused = (
            await http.post("/runs", json={"query": "Refund order 7", "wait": True}, headers=acme)
        ).json()
        assert paused["status"] == "paused"
        pause = paused["result"]
        assert pause["type"] == "pause" and pause["pending_calls"][0]["args"] == {
            "order": 7,
            "amount": 42.5,
        }
        listed = (await http.get("/pauses", params={"status": "pending"}, headers=acme)).json()
        assert [p["pause_id"] for p in listed["pauses"]] == [pause["pause_id"]]
        other = await http.get("/pauses", headers={"X-Tenant-ID": "globex"})
        assert other.json() == {"pauses": []}
        done = await http.post(
            "/resume",
            json={"token": pause["resume_token"], "approve": True, "wait": True},
            headers=acme,
        )
        assert done.status_code == 200
        assert done.json()["result"]["payload"]["raw_answer"] == "Refunded 42.5 for order 7."

        second = (
            await http.post("/runs", json={"query": "Refund order 9", "wait": True}, headers=acme)
        ).json()
        rejected = await http.post(
            "/resume",
            json={
                "token": second["result"]["resume_token"],
                "approve": False,
                "reason": "too large",
                "wait": True,
            },
            headers=acme,
        )
        assert rejected.json()["result"]["payload"]["raw_answer"] == "The refund was not approved."
