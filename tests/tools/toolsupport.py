"""Helpers shared by the tools tests: free ports, process checks, test servers."""

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn

SERVERS = Path(__file__).parent / "servers"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"_penguiflow_tools_test_{name}", SERVERS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


http_api_module = _load("http_api")
build_app = http_api_module.build_app
TOKEN = http_api_module.TOKEN
openapi_module = _load("openapi_app")
oauth_module = _load("oauth_provider")
DEMO = str(SERVERS / "demo_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def group_members(pgid: int) -> set[int]:
    """Live (not zombie) processes of the process group ``pgid``, read from /proc."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.add(int(entry.name))
    return members


def wait_group_gone(pgid: int, timeout: float = 10.0) -> set[int]:
    """Wait for the group to end; return the members still alive at the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not group_members(pgid):
            return set()
        time.sleep(0.05)
    return group_members(pgid)


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_pid(path: Path) -> int | None:
    text = read_text(path)
    return int(text) if text else None


async def eventually(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def demo_settings(**overrides):
    """A config dict for the demo MCP server over stdio."""
    base = {
        "name": "demo",
        "transport": "mcp",
        "connection": [sys.executable, DEMO],
        "allow": ["*"],
        "deny": ["shout"],
        "timeout_s": 20.0,
        "retry": {"attempts": 3, "backoff_base": 0.05},
    }
    base.update(overrides)
    return base


class McpHttpServer:
    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        path = "/mcp" if transport == "streamable-http" else "/sse"
        self.url = f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, DEMO, "--transport", self.transport, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


class HttpApi:
    def __init__(self, app=None, state=None) -> None:
        if app is None:
            self.app, self.state = build_app()
        else:
            self.app, self.state = app, state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > end:
                raise RuntimeError("HTTP API did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
