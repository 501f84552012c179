"""ToolNode MCP failure paths: crashes, reconnects, circuit breaker, orphan processes, list changes."""

import asyncio
import os
import signal
import sys

import pytest
from toolsupport import (
    DEMO,
    alive,
    eventually,
    group_members,
    read_pid,
    read_text,
    wait_dead,
    wait_group_gone,
)

from penguiflow.tools import ToolNode
from penguiflow.tools.errors import (
    SecretNotFoundError,
    ToolCircuitOpenError,
    ToolConnectionError,
    ToolNodeStateError,
)
from penguiflow.tools.node import ToolNodeState


async def test_server_crash_mid_call_reconnects_and_retries_only_safe_calls(demo_config, tmp_path):
    writes, died = tmp_path / "writes", tmp_path / "died-once"
    async with ToolNode(demo_config()) as tn:
        # Not safe to repeat: the lost call is reported, not sent again.
        with pytest.raises(ToolConnectionError) as info:
            await tn.call("crash_write", {"marker": str(writes)})
        assert info.value.attempts == 1 and info.value.retryable is True
        assert read_text(writes) == "x"  # ran exactly once
        # Read-only: the server dies mid-call, is restarted, and the call is retried.
        result = await tn.call("flaky_read", {"marker": str(died)})
        assert result.text == "ok after restart"
        first_pid = read_pid(died)
        assert wait_dead(first_pid)
        assert (await tn.call("pid")).structured["result"] != first_pid


async def test_circuit_breaker_opens_then_recovers(demo_config, tmp_path):
    flag = tmp_path / "down"
    cfg = demo_config(
        connection=[sys.executable, DEMO, "--fail-if-exists", str(flag)],
        circuit_breaker={"failure_threshold": 2, "reset_after_s": 0.6},
        retry={"attempts": 2, "backoff_base": 0.05},
    )
    async with ToolNode(cfg) as tn:
        pid = (await tn.call("pid")).structured["result"]
        flag.write_text("1")
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ToolConnectionError):
            await tn.call("add", {"a": 1, "b": 1})
        with pytest.raises(ToolCircuitOpenError) as info:
            await tn.call("add", {"a": 1, "b": 1})
        assert info.value.retry_after is not None and info.value.attempts == 1
        flag.unlink()
        for _ in range(60):
            try:
                result = await tn.call("add", {"a": 1, "b": 1})
                break
            except ToolConnectionError:
                await asyncio.sleep(0.1)
        assert result.text == "2"


async def test_close_leaves_no_server_process(demo_config):
    tn = ToolNode(demo_config())
    await tn.connect()
    pid = (await tn.call("pid")).structured["result"]
    assert alive(pid)
    await tn.close()
    assert not alive(pid)
    await tn.close()  # twice is fine
    with pytest.raises(ToolNodeStateError):
        await tn.connect()
    with pytest.raises(ToolNodeStateError):
        await tn.call("pid")


async def test_cancelling_the_owner_task_mid_call_leaves_no_process(demo_config):
    pids: list[int] = []

    async def work():
        async with ToolNode(demo_config()) as tn:
            pids.append((await tn.call("pid")).structured["result"])
            await tn.call("slow", {"seconds": 30})

    task = asyncio.create_task(work())
    await eventually(lambda: bool(pids))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pids[0])


STUB = (
    "import os, signal, sys, time\n"
    "if '--ignore-term' in sys.argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "time.sleep(60)\n"
)


@pytest.mark.parametrize(
    "extra", [[], pytest.param(["--ignore-term"], marks=pytest.mark.slow)], ids=["term", "kill"]
)
async def test_cancelling_connect_leaves_no_process(demo_config, tmp_path, extra):
    # The stub never answers initialize, ignores stdin EOF, and may ignore SIGTERM too.
    pid_file = tmp_path / "pid"
    tn = ToolNode(demo_config(connection=[sys.executable, "-c", STUB, str(pid_file), *extra]))
    task = asyncio.create_task(tn.connect())
    await eventually(lambda: read_pid(pid_file) is not None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tn.state is ToolNodeState.NEW
    assert wait_dead(read_pid(pid_file), timeout=1.0)


async def test_list_changed_refreshes_tools_and_flags_changed_definitions(demo_config):
    changed = asyncio.Event()
    seen: list[list[str]] = []

    def on_change(specs):
        seen.append([s.name for s in specs])
        changed.set()

    async with ToolNode(demo_config(), on_tools_changed=on_change) as tn:
        echo_node = next(s.node for s in tn.specs if s.name == "demo.echo")
        assert tn.changed_tools == []
        # The first echo ignores "times"; the new one repeats.
        assert (await tn.call("echo", {"text": "a", "times": 2})).text == "a"
        await tn.call("mutate")
        await asyncio.wait_for(changed.wait(), 10)
        assert "demo.late_tool" in seen[-1]
        assert tn.changed_tools == ["demo.echo"]
        echo = next(s for s in tn.specs if s.name == "demo.echo")
        assert echo.node is echo_node and echo.extra["definition_changed"] is True
        assert "times" in echo.args_schema["properties"]
        assert (await tn.call("echo", {"text": "a", "times": 2})).text == "aa"
        assert (await tn.call("late_tool")).text == "late"


async def test_missing_env_secret_fails_connect_naming_the_variable(demo_config, monkeypatch):
    monkeypatch.delenv("PF_TEST_MISSING_VAR", raising=False)
    tn = ToolNode(demo_config(env={"TOKEN": "${PF_TEST_MISSING_VAR}"}))
    with pytest.raises(SecretNotFoundError) as info:
        await tn.connect()
    assert info.value.variable == "PF_TEST_MISSING_VAR"
    assert "PF_TEST_MISSING_VAR" in str(info.value)
    assert tn.state is ToolNodeState.NEW


async def test_unstartable_server_fails_connect(demo_config):
    cfg = demo_config(connection=[sys.executable, "-c", "import sys; sys.exit(1)"])
    tn = ToolNode(cfg)
    with pytest.raises(ToolConnectionError):
        await tn.connect()
    assert tn.state is ToolNodeState.NEW


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads process groups from /proc"
)


async def _group_of_server_with_a_child(demo_config, tmp_path):
    child_file = tmp_path / "child"
    cfg = demo_config(connection=[sys.executable, DEMO, "--spawn-child", str(child_file)])
    tn = ToolNode(cfg)
    await tn.connect()
    leader = (await tn.call("pid")).structured["result"]
    child = read_pid(child_file)
    assert {leader, child} <= group_members(leader)
    return tn, leader


@linux_only
async def test_close_ends_the_servers_whole_process_group(demo_config, tmp_path):
    tn, leader = await _group_of_server_with_a_child(demo_config, tmp_path)
    await tn.close()
    # The server exits on stdin EOF by itself; the child it started must not survive it.
    assert wait_group_gone(leader, timeout=1.0) == set()


@linux_only
async def test_cancelling_the_owner_ends_the_servers_whole_process_group(demo_config, tmp_path):
    groups: list[int] = []

    async def work():
        tn, leader = await _group_of_server_with_a_child(demo_config, tmp_path)
        groups.append(leader)
        async with tn:
            await tn.call("slow", {"seconds": 30})

    task = asyncio.create_task(work())
    await eventually(lambda: bool(groups))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_group_gone(groups[0], timeout=1.0) == set()


@linux_only
async def test_a_crashed_servers_children_are_ended_before_the_restart(demo_config, tmp_path):
    tn, leader = await _group_of_server_with_a_child(demo_config, tmp_path)
    try:
        os.kill(leader, signal.SIGKILL)
        # The next call reconnects (a new server); the old group is gone by then.
        assert (await tn.call("add", {"a": 1, "b": 2})).text == "3"
        assert wait_group_gone(leader, timeout=1.0) == set()
    finally:
        await tn.close()


async def test_a_server_that_exits_at_start_is_named_with_its_exit_status_and_stderr(demo_config):
    script = (
        "import sys\n"
        "print('loading settings', file=sys.stderr)\n"
        "print('fatal: SHOP_DB is not set', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    tn = ToolNode(demo_config(name="shop", connection=[sys.executable, "-c", script]))
    with pytest.raises(ToolConnectionError) as info:
        await tn.connect()
    message = str(info.value)
    assert "ExceptionGroup" not in message and "TaskGroup" not in message
    assert message.startswith("tool server 'shop': the MCP server exited with status 3")
    assert "(command: " in message and "sys.exit(3)" in message
    assert "| loading settings\n  | fatal: SHOP_DB is not set" in message
    assert info.value.server == "shop"


async def test_a_missing_command_is_named(demo_config, tmp_path):
    missing = str(tmp_path / "no-such-server")
    tn = ToolNode(demo_config(connection=[missing, "--stdio"]))
    with pytest.raises(ToolConnectionError) as info:
        await tn.connect()
    message = str(info.value)
    assert f"(command: {missing} --stdio)" in message and "No such file" in message


async def test_an_unreachable_url_is_named(demo_config):
    from toolsupport import free_port

    url = f"http://127.0.0.1:{free_port()}/mcp"
    tn = ToolNode(demo_config(name="remote", connection=url))
    with pytest.raises(ToolConnectionError) as info:
        await tn.connect()
    message = str(info.value)
    assert "ExceptionGroup" not in message and "TaskGroup" not in message
    assert message.startswith(f"tool server 'remote': could not reach the MCP server at {url}")
    assert "ConnectError" in message
