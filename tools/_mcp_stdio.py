"""The stdio transport: an MCP server as a subprocess in its own process group.

The server starts as the leader of a new session (``start_new_session``), so it and every
process it starts share one process group. On exit the transport stops sending, closes the
server's stdin, gives it a grace period, then ends **the whole group** with SIGTERM and,
for what is left, SIGKILL, whether or not the server itself already exited: a server's own
child processes never outlive it. Shutdown runs shielded from cancellation, with every
wait bounded.

The server's stderr never reaches the terminal: each line is masked and logged on the
``penguiflow.tools.mcp.stderr`` logger (INFO), and the last lines are kept for the error
raised when the server cannot start.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
from collections import deque
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from subprocess import PIPE

import anyio
import mcp_types as types
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.text import TextReceiveStream
from mcp.client._transport import TransportStreams
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from ._secrets import Redactor
from .errors import ToolConnectionError

__all__ = ["StdioServer", "stdio_transport"]

stderr_log = logging.getLogger("penguiflow.tools.mcp.stderr")
log = logging.getLogger("penguiflow.tools.mcp")

_STDERR_LINES = 20
"""How many of the server's last stderr lines an error shows."""
_MAX_LINE = 64 * 1024
"""A stderr line longer than this is cut (a server writing without newlines)."""
_FLUSH_S = 0.5
"""Time for messages already accepted to reach the server before its stdin closes."""
_GRACE_S = 2.0
"""Time for the server to exit by itself once its stdin is closed."""
_TERM_S = 2.0
"""Time for the process group to exit after SIGTERM, before SIGKILL."""
_REAP_S = 2.0
"""Time for killed processes to disappear."""
_POLL_S = 0.01


@dataclass(slots=True)
class StdioServer:
    """What is known about one start of a stdio server, for error messages.

    Attributes:
        command: the command line.
        pid: the server's process id (and process group id), once started.
        exit_status: its exit status when it exited by itself, before the transport
            stopped it (negative: killed by that signal); ``None`` otherwise.
        stderr: its last stderr lines, masked.
    """

    command: list[str]
    pid: int | None = None
    exit_status: int | None = None
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))

    def describe_exit(self) -> str:
        """``"exited with status 3"`` or ``"was killed by SIGKILL"``."""
        code = self.exit_status
        if code is not None and code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"


def _parse(line: str) -> SessionMessage | Exception:
    try:
        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError as exc:
        log.debug("MCP server wrote a line that is not JSON-RPC: %s", exc)
        return exc
    return SessionMessage(message)


async def _lines(stream: ByteReceiveStream, limit: int | None = None) -> AsyncGenerator[str, None]:
    """The stream's text, line by line (the last line may lack its newline)."""
    buffer = ""
    with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        async for chunk in TextReceiveStream(stream, errors="replace"):
            *lines, buffer = (buffer + chunk).split("\n")
            for line in lines:
                yield line
            if limit is not None and len(buffer) > limit:
                yield buffer
                buffer = ""
    if buffer:
        yield buffer


async def _read_stdout(
    process: Process, send: MemoryObjectSendStream[SessionMessage | Exception], done: anyio.Event
) -> None:
    assert process.stdout is not None
    deliver = True
    try:
        async with send:
            async for line in _lines(process.stdout):
                if not (deliver and line.strip()):
                    continue  # once the session is gone, drain so the server can exit
                try:
                    await send.send(_parse(line))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    deliver = False
    finally:
        done.set()


async def _read_stderr(
    process: Process, server: StdioServer, name: str, mask: Callable[[str], str], done: anyio.Event
) -> None:
    assert process.stderr is not None
    try:
        async for line in _lines(process.stderr, _MAX_LINE):
            masked = mask(line.rstrip("\r"))[:_MAX_LINE]
            server.stderr.append(masked)
            stderr_log.info("%s: %s", name, masked)
    finally:
        done.set()


async def _write_stdin(
    process: Process,
    receive: MemoryObjectReceiveStream[SessionMessage],
    on_broken: MemoryObjectSendStream[SessionMessage | Exception],
    done: anyio.Event,
) -> None:
    assert process.stdin is not None
    try:
        async with receive:
            async for message in receive:
                data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                await process.stdin.send((data + "\n").encode("utf-8"))
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        # The server stopped reading: end the read side too, so no request waits forever.
        await on_broken.aclose()
    finally:
        done.set()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # members we may not signal (or zombies): assume alive
    return True


async def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll until ``condition()`` holds; return whether it did within ``timeout``.

    A process group's end has no event to wait on, and ``Process.wait()`` also waits for
    the pipes, which a surviving child can hold open.
    """
    with anyio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110 - see the docstring
            await anyio.sleep(_POLL_S)
        return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _end_group(process: Process) -> None:
    """Close stdin, wait for the leader, then end whatever is left of its process group."""
    assert process.stdin is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    await _wait(lambda: process.returncode is not None, _GRACE_S)
    pgid = process.pid  # the leader's pid is the group id (start_new_session)
    if not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    if await _wait(lambda: not _group_alive(pgid), _TERM_S):
        return
    _signal_group(pgid, signal.SIGKILL)
    if not await _wait(lambda: not _group_alive(pgid), _REAP_S):
        log.warning("process group %d of an MCP server survived SIGKILL; abandoning it", pgid)


async def _spawn(command: list[str], env: dict[str, str], cwd: str | None, name: str) -> Process:
    try:
        return await anyio.open_process(
            command,
            stdin=PIPE,
            stdout=PIPE,
            stderr=PIPE,
            env={**get_default_environment(), **env},
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise ToolConnectionError(
            f"could not start the MCP server (command: {shlex.join(command)}): {problem}; "
            "check the command line in connection= and the working directory in cwd=",
            server=name,
        ) from None


@asynccontextmanager
async def stdio_transport(
    server: StdioServer,
    *,
    name: str,
    env: dict[str, str],
    cwd: str | None,
    redactor: Redactor,
) -> AsyncGenerator[TransportStreams, None]:
    """Start the server and yield the session's read and write streams.

    Args:
        server: filled in with the process id, the exit status and the last stderr lines.
        name: the tool config's name, for logs and errors.
        env: environment variables added to the safe default environment.
        cwd: the working directory.
        redactor: masks secrets in the logged stderr lines.

    Raises:
        ToolConnectionError: the command could not be started.
    """
    process = await _spawn(server.command, env, cwd, name)
    server.pid = process.pid
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](0)
    writer_done, stdout_done, stderr_done = anyio.Event(), anyio.Event(), anyio.Event()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_read_stdout, process, read_send, stdout_done)
            tasks.start_soon(_read_stderr, process, server, name, redactor.text, stderr_done)
            tasks.start_soon(_write_stdin, process, write_receive, read_send, writer_done)
            try:
                yield read_receive, write_send
            finally:
                # Must finish even if the caller is cancelled, or the server would leak;
                # every wait inside is bounded.
                with anyio.CancelScope(shield=True):
                    if stdout_done.is_set():  # the server closed its output: is it exiting?
                        await _wait(lambda: process.returncode is not None, _FLUSH_S)
                    server.exit_status = process.returncode
                    write_send.close()
                    with anyio.move_on_after(_FLUSH_S):
                        await writer_done.wait()
                    read_receive.close()
                    await _end_group(process)
                    # Let the stderr reader pick up the server's last words.
                    with anyio.move_on_after(_FLUSH_S):
                        await stderr_done.wait()
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _release(process)


async def _release(process: Process) -> None:
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGKILL)
        await _wait(lambda: process.returncode is not None, _REAP_S)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.aclose()
