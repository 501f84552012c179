"""Calling agents that run elsewhere: ``HttpRemoteTransport`` and ``RemoteNode``.

``HttpRemoteTransport`` implements :class:`~penguiflow.RemoteTransport` over HTTP
(httpx) against an agent served by :func:`penguiflow.server.create_agent_app`
(or anything speaking the same protocol)::

    POST {agent_url}/runs               {"query": ...}  -> 202 {"run_id", "status", ...}
    GET  {agent_url}/runs/{id}/events   Server-Sent Events; the last one is "end"
    POST {agent_url}/runs/{id}/cancel

``RemoteNode`` makes a remote agent a node of a flow: the message's payload is the query,
streamed text is forwarded as ``StreamChunk``s, the remote result is the node's output.
Cancelling the trace (or a node timeout) cancels the remote run; ``timeout_s`` bounds the
whole call. The tenant of a ``Message`` travels in the ``X-Tenant-ID`` header; with
telemetry on, the W3C ``traceparent`` of the calling span travels too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from .._hooks import HOOKS
from ..bus import RemoteCallRequest, RemoteCallResult, RemoteStreamEvent, RemoteTransport
from ..errors import ConfigError
from ..node import Node
from ..policy import NodePolicy
from ..state import RemoteBinding, StateStore
from ..types import Message
from .errors import RemoteCallError, RemoteTimeoutError

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpRemoteTransport", "RemoteCallError", "RemoteNode", "RemoteTimeoutError"]

logger = logging.getLogger("penguiflow.remote")

_RECONNECTS = 3


_T = TypeVar("_T")


def _timeout_at(deadline: float | None) -> asyncio.Timeout:
    return asyncio.timeout_at(deadline)


@contextlib.asynccontextmanager
async def _closing(iterator: AsyncIterator[_T]) -> AsyncGenerator[AsyncIterator[_T], None]:
    """Close an async iterator (an async generator) on exit, whatever happens."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


class HttpRemoteTransport:
    """A :class:`~penguiflow.RemoteTransport` over HTTP and Server-Sent Events.

    Args:
        client: an ``httpx.AsyncClient`` to use (not closed by the transport); by default
            the transport opens its own and closes it in :meth:`aclose`.
        headers: sent with every request (for example ``Authorization``).
        tenant_header: the header carrying ``request.meta["tenant"]``.
        connect_timeout_s: limit for opening a connection.
        read_timeout_s: most silence tolerated on the event stream (the server sends
            keep-alives) and per plain request.
        cancel_timeout_s: how long a cancellation request may take.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        tenant_header: str = "X-Tenant-ID",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        cancel_timeout_s: float = 5.0,
    ) -> None:
        import httpx

        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("read_timeout_s", read_timeout_s),
            ("cancel_timeout_s", cancel_timeout_s),
        ):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"HttpRemoteTransport({name}=...) must be > 0, got {value!r}")
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)
        self._headers = dict(headers or {})
        self._tenant_header = tenant_header
        self._cancel_timeout_s = float(cancel_timeout_s)

    # -- helpers --------------------------------------------------------------------------

    def _headers_for(self, request: RemoteCallRequest) -> dict[str, str]:
        headers = dict(self._headers)
        tenant = request.meta.get("tenant")
        if tenant:
            headers[self._tenant_header] = str(tenant)
        hooks = HOOKS.runtime
        if hooks is not None:  # the remote agent's spans join this trace
            hooks.inject(headers)
        return headers

    @staticmethod
    def _url(agent_url: str, path: str) -> str:
        return agent_url.rstrip("/") + path

    @staticmethod
    def _body(request: RemoteCallRequest) -> dict[str, Any]:
        message = request.message
        if isinstance(message, str):
            body: dict[str, Any] = {"query": message}
        elif isinstance(message, Mapping) and "query" in message:
            body = dict(message)
        else:
            raise ConfigError(
                "a remote call's message must be the query text or a mapping with a 'query' "
                f"key, got {type(message).__name__}"
            )
        if request.skill is not None:
            body["skill"] = request.skill
        if request.trace_id is not None:
            body.setdefault("trace_id", request.trace_id)
        return body

    def _error(
        self, agent_url: str, response: httpx.Response, task_id: str | None
    ) -> RemoteCallError:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        return RemoteCallError(
            agent_url, str(detail)[:500], task_id=task_id, status_code=response.status_code
        )

    # -- the protocol ---------------------------------------------------------------------

    async def send(self, request: RemoteCallRequest) -> RemoteCallResult:
        """Run the remote call to completion and return its result.

        Raises:
            RemoteCallError: the agent refused the call, the run failed or was cancelled.
            RemoteTimeoutError: ``request.timeout_s`` passed (the remote run is cancelled).
        """
        async with _closing(self.stream(request)) as events:
            async for event in events:
                if event.done:
                    return RemoteCallResult(
                        result=event.result,
                        context_id=event.context_id,
                        task_id=event.task_id,
                        meta=event.meta,
                    )
        raise RemoteCallError(request.agent_url, "the event stream ended without a result")

    async def stream(self, request: RemoteCallRequest) -> AsyncIterator[RemoteStreamEvent]:
        """Start the remote run and yield its events; the last one has ``done=True``.

        The first event carries the remote ``task_id`` and no text. Streamed text comes as
        events with ``text``. If the consumer stops early, is cancelled, or
        ``request.timeout_s`` passes, the remote run is cancelled.

        Raises:
            RemoteCallError: the agent refused the call, the run failed or was cancelled.
            RemoteTimeoutError: ``request.timeout_s`` passed.
        """
        import httpx

        loop = asyncio.get_running_loop()
        deadline = None if request.timeout_s is None else loop.time() + request.timeout_s
        agent = request.agent_url
        task_id: str | None = None
        settled = False
        try:
            async with _timeout_at(deadline):
                response = await self._client.post(
                    self._url(agent, "/runs"),
                    json=self._body(request),
                    headers=self._headers_for(request),
                )
            if response.status_code >= 400:
                settled = True
                raise self._error(agent, response, None)
            task_id = str(response.json()["run_id"])
            yield RemoteStreamEvent(task_id=task_id, meta={"event": "started"})
            async with _closing(self._events(request, task_id, deadline)) as events:
                async for event in events:
                    if event.done:
                        settled = True
                        status = event.meta.get("status")
                        if status not in ("finished", "paused"):
                            raise RemoteCallError(
                                agent, str(event.meta.get("error")), task_id=task_id
                            )
                    yield event
        except TimeoutError as exc:
            if deadline is not None and loop.time() >= deadline:
                raise RemoteTimeoutError(
                    agent, f"no result within timeout_s={request.timeout_s:g}", task_id=task_id
                ) from exc
            raise RemoteCallError(agent, f"timed out: {exc}", task_id=task_id) from exc
        except httpx.HTTPError as exc:
            raise RemoteCallError(agent, f"{type(exc).__name__}: {exc}", task_id=task_id) from exc
        finally:
            if task_id is not None and not settled:
                await self._cancel_shielded(agent, task_id, request)

    async def _events(
        self, request: RemoteCallRequest, task_id: str, deadline: float | None
    ) -> AsyncGenerator[RemoteStreamEvent, None]:
        import httpx

        agent = request.agent_url
        url = self._url(agent, f"/runs/{task_id}/events")
        after = -1
        failures = 0
        while True:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    async with _timeout_at(deadline):
                        response = await stack.enter_async_context(
                            self._client.stream(
                                "GET",
                                url,
                                params={"after": after},
                                headers=self._headers_for(request),
                            )
                        )
                    if response.status_code >= 400:
                        await response.aread()
                        raise self._error(agent, response, task_id)
                    parsed = await stack.enter_async_context(
                        _closing(_sse(response.aiter_lines(), deadline))
                    )
                    async for kind, data, seq in parsed:
                        failures = 0
                        if seq is not None:
                            after = seq
                        if kind == "end":
                            yield self._final(task_id, data)
                            return
                        if kind == "stream_chunk" and data.get("text"):
                            yield RemoteStreamEvent(
                                text=str(data["text"]),
                                task_id=task_id,
                                meta={"source": data.get("extra", {}).get("source")},
                            )
            except httpx.TransportError:
                if failures >= _RECONNECTS:
                    raise
            if failures >= _RECONNECTS:
                raise RemoteCallError(
                    agent, "the event stream closed before the run ended", task_id=task_id
                )
            failures += 1
            logger.warning("remote event stream dropped; reconnecting", extra={"task_id": task_id})
            await asyncio.sleep(0.1 * failures)

    @staticmethod
    def _final(task_id: str, record: dict[str, Any]) -> RemoteStreamEvent:
        status = record.get("status")
        meta: dict[str, Any] = {"status": status}
        if status == "cancelled":
            meta["error"] = "the remote run was cancelled"
        elif status not in ("finished", "paused"):
            error = record.get("error") or {}
            meta["error"] = error.get("message") or f"the remote run ended with status {status!r}"
        return RemoteStreamEvent(done=True, result=record.get("result"), task_id=task_id, meta=meta)

    async def _cancel_shielded(
        self, agent_url: str, task_id: str, request: RemoteCallRequest
    ) -> None:
        task = asyncio.ensure_future(self._cancel(agent_url, task_id, self._headers_for(request)))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Cancelled again while cancelling: let the request finish in the background.
            raise
        except Exception:
            logger.warning("remote cancel failed", exc_info=True, extra={"task_id": task_id})

    async def _cancel(self, agent_url: str, task_id: str, headers: Mapping[str, str]) -> None:
        async with asyncio.timeout(self._cancel_timeout_s):
            response = await self._client.post(
                self._url(agent_url, f"/runs/{task_id}/cancel"), headers=dict(headers)
            )
        if response.status_code >= 400 and response.status_code != 404:
            raise self._error(agent_url, response, task_id)

    async def cancel(self, *, agent_url: str, task_id: str) -> None:
        """Ask the agent to cancel a running task (unknown or finished tasks are ignored).

        Raises:
            RemoteCallError: the agent answered with an error.
        """
        await self._cancel(agent_url, task_id, self._headers)

    async def aclose(self) -> None:
        """Close the HTTP client if the transport opened it; idempotent."""
        if self._owns_client:
            self._owns_client = False
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _sse(
    lines: AsyncIterator[str], deadline: float | None
) -> AsyncGenerator[tuple[str, dict[str, Any], int | None], None]:
    """Parse Server-Sent Events into ``(event, data, id)``; comments are keep-alives."""
    kind, data, seq = "message", "", None
    while True:
        try:
            async with _timeout_at(deadline):
                line = await anext(lines)
        except StopAsyncIteration:
            return
        if not line:
            if data:
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = {"text": data}
                yield kind, parsed if isinstance(parsed, dict) else {"value": parsed}, seq
            kind, data, seq = "message", "", None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data = f"{data}\n{value}" if data else value
        elif field == "id" and value.lstrip("-").isdigit():
            seq = int(value)


class RemoteNode(Node):
    """A node that runs its message through a remote agent.

    The message's payload (the query text, or a mapping with a ``"query"`` key) is sent
    to ``agent_url``; streamed text is forwarded with ``ctx.emit_chunk`` (for
    ``Message`` envelopes, when ``forward_chunks``); the remote result (a JSON object:
    the agent's ``PlannerFinish`` or ``PlannerPause``) replaces the payload. Cancelling
    the trace, a ``NodePolicy`` timeout or ``timeout_s`` cancel the remote run.

    Args:
        transport: how to reach the agent (for example :class:`HttpRemoteTransport`).
        agent_url: the agent's base URL.
        name: the node's name.
        skill: the remote skill to call, if the agent has several.
        timeout_s: limit for the whole remote call (``None``: none).
        policy: the node's policy (retries re-run the remote call).
        forward_chunks: forward streamed text as ``StreamChunk``s.
        state_store: saves a ``RemoteBinding`` (trace -> remote task) when the remote
            run starts.
    """

    __slots__ = ("agent_url", "forward_chunks", "skill", "state_store", "timeout_s", "transport")

    def __init__(
        self,
        *,
        transport: RemoteTransport,
        agent_url: str,
        name: str,
        skill: str | None = None,
        timeout_s: float | None = None,
        policy: NodePolicy | None = None,
        forward_chunks: bool = True,
        state_store: StateStore | None = None,
    ) -> None:
        if not isinstance(agent_url, str) or not agent_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"RemoteNode(agent_url=...) must be an http(s) URL, got {agent_url!r}"
            )
        if timeout_s is not None and (not isinstance(timeout_s, int | float) or timeout_s <= 0):
            raise ConfigError(f"RemoteNode(timeout_s=...) must be > 0 or None, got {timeout_s!r}")
        self.transport = transport
        self.agent_url = agent_url
        self.skill = skill
        self.timeout_s = timeout_s
        self.forward_chunks = forward_chunks
        self.state_store = state_store
        super().__init__(self._call, name=name, policy=policy)

    async def _call(self, message: Any, ctx: Any) -> Any:
        envelope = message if isinstance(message, Message) else None
        payload = envelope.payload if envelope is not None else message
        request = RemoteCallRequest(
            agent_url=self.agent_url,
            message=payload,
            skill=self.skill,
            trace_id=ctx.trace_id,
            meta={"tenant": envelope.headers.tenant} if envelope is not None else {},
            timeout_s=self.timeout_s,
        )
        result: Any = None
        async with _closing(self.transport.stream(request)) as events:
            async for event in events:
                if event.task_id and event.meta.get("event") == "started":
                    await self._bind(ctx.trace_id, event)
                if event.text and envelope is not None and self.forward_chunks:
                    await ctx.emit_chunk(parent=envelope, text=event.text)
                if event.done:
                    result = event.result
        if envelope is None:
            return result
        return envelope.model_copy(update={"payload": result})

    async def _bind(self, trace_id: str | None, event: RemoteStreamEvent) -> None:
        if self.state_store is None or trace_id is None or event.task_id is None:
            return
        binding = RemoteBinding(
            trace_id=trace_id,
            context_id=event.context_id,
            task_id=event.task_id,
            agent_url=self.agent_url,
        )
        try:
            await self.state_store.save_remote_binding(binding)
        except Exception:
            logger.exception("saving a remote binding failed", extra={"trace_id": trace_id})
