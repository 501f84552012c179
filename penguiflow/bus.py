"""Protocols for distributing a flow: ``MessageBus`` and ``RemoteTransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BusEnvelope",
    "MessageBus",
    "RemoteCallRequest",
    "RemoteCallResult",
    "RemoteStreamEvent",
    "RemoteTransport",
]


@dataclass(frozen=True, slots=True)
class BusEnvelope:
    """One message crossing an edge, as published on a :class:`MessageBus`."""

    edge: str
    source: str | None
    target: str | None
    trace_id: str | None
    payload: Any
    headers: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class MessageBus(Protocol):
    """Receives every edge traversal of a flow so other processes can observe it."""

    async def publish(self, envelope: BusEnvelope) -> None:
        """Publish one envelope; must not block for long."""
        ...


@dataclass(frozen=True, slots=True)
class RemoteCallRequest:
    """A call to a remote agent."""

    agent_url: str
    message: Any
    skill: str | None = None
    trace_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class RemoteCallResult:
    """The result of a remote call."""

    result: Any
    context_id: str | None = None
    task_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteStreamEvent:
    """One streamed event of a remote call."""

    text: str | None = None
    done: bool = False
    result: Any = None
    context_id: str | None = None
    task_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class RemoteTransport(Protocol):
    """How a flow calls an agent that runs elsewhere."""

    async def send(self, request: RemoteCallRequest) -> RemoteCallResult:
        """Run the remote call to completion."""
        ...

    def stream(self, request: RemoteCallRequest) -> AsyncIterator[RemoteStreamEvent]:
        """Run the remote call, yielding events as they arrive."""
        ...

    async def cancel(self, *, agent_url: str, task_id: str) -> None:
        """Cancel a running remote task."""
        ...
