"""Scripted LLM clients, stores and recorders shared by the memory tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from penguiflow.memory import InMemoryMemoryStore, MemoryKey
from penguiflow.memory.events import MemoryEvent
from penguiflow.memory.turns import ToolCallRecord, Turn


@dataclass
class Reply:
    text: str
    usage: dict[str, int] = field(default_factory=dict)


class ScriptedSummarizer:
    """Replies from a script: str -> reply, Exception -> raised, callable -> called."""

    def __init__(self, *script: Any, default: Any = None) -> None:
        self.script = list(script)
        self.default = default
        self.requests: list[list[dict[str, Any]]] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: Any = None,
        stream: bool = False,
        on_stream_chunk: Any = None,
    ) -> Any:
        self.requests.append(messages)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        item = self.script.pop(0) if self.script else self.default
        if item is None:
            item = f"summary #{len(self.requests)}"
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(messages)
        return item


class SlowStore(InMemoryMemoryStore):
    """An in-memory store that yields inside every call, so writers interleave."""

    async def load_memory(self, key: MemoryKey) -> tuple[dict[str, Any] | None, int]:
        await asyncio.sleep(0)
        result = await super().load_memory(key)
        await asyncio.sleep(0)
        return result

    async def save_memory(
        self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
    ) -> int:
        await asyncio.sleep(0)
        return await super().save_memory(key, state, expected_version=expected_version)


class FailingStore(InMemoryMemoryStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def save_memory(
        self, key: MemoryKey, state: dict[str, Any], *, expected_version: int
    ) -> int:
        raise self.error


class Events:
    def __init__(self) -> None:
        self.items: list[MemoryEvent] = []

    def __call__(self, event: MemoryEvent) -> None:
        self.items.append(event)

    def types(self) -> list[str]:
        return [e.event_type for e in self.items]

    def of(self, kind: str) -> list[MemoryEvent]:
        return [e for e in self.items if e.event_type == kind]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def key(session: str = "s1", *, tenant: str = "acme", user: str = "u1") -> MemoryKey:
    return MemoryKey(tenant_id=tenant, user_id=user, session_id=session)


def turn(n: int, *, size: int = 1, tools: int = 0, **extra: Any) -> Turn:
    calls = tuple(
        ToolCallRecord(name=f"tool{j}", args={"n": n, "j": j}, result=f"result {n}.{j}")
        for j in range(tools)
    )
    return Turn(
        user=f"question {n} " + "word " * (size - 1),
        assistant=f"answer {n} " + "word " * (size - 1),
        tool_calls=calls,
        **extra,
    )


def ids(turns: Any) -> list[str]:
    return [t.id for t in turns]
