from __future__ import annotations

import asyncio
import logging

import pytest
from _memory_support import (
    Events,
    FakeClock,
    Reply,
    ScriptedSummarizer,
    SleepRecorder,
    ids,
    key,
    no_sleep,
    turn,
)

from penguiflow.memory import (
    InMemoryMemoryStore,
    MemoryBudget,
    MemoryHealth,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from penguiflow.memory.events import MemoryEvent


def rolling(**overrides: object) -> ShortTermMemoryConfig:
    budget = overrides.pop("budget", MemoryBudget(full_zone_turns=2, summary_max_tokens=200))
    values: dict[str, object] = {
        "strategy": "rolling_summary",
        "budget": budget,
        "summary_retry_attempts": 3,
        "recovery_cooldown_s": 60.0,
    }
    values.update(overrides)
    return ShortTermMemoryConfig(**values)  # type: ignore[arg-type]


async def test_overflow_turns_stay_pending_while_summariser_runs() -> None:
    llm = ScriptedSummarizer("Ada likes tea.")
    llm.gate = asyncio.Event()
    events = Events()
    async with ShortTermMemory(
        rolling(), summarizer=llm, event_callback=events, sleep=no_sleep
    ) as memory:
        turns = [await memory.add_turn(turn(i, tools=1)) for i in range(3)]
        await asyncio.wait_for(llm.started.wait(), 5)
        during = await memory.get_llm_context()
        assert ids(memory.pending) == [turns[0].id]
        assert during.pending_turn_ids == (turns[0].id,)
        assert ids(during.turns) == ids(turns)  # nothing disappears while summarising
        llm.gate.set()
        await memory.flush()
        after = await memory.get_llm_context()
    assert memory.summary == "Ada likes tea."
    assert memory.pending == ()
    assert ids(after.turns) == ids(turns[1:])
    assert "Ada likes tea." in after.text
    assert events.types() == ["memory_summary_started", "memory_summary_finished"]
    finished = events.of("memory_summary_finished")[0]
    assert finished.details["turns"] == 1 and finished.details["applied"] is True
    assert finished.key is None and finished.health is MemoryHealth.HEALTHY
    prompt = llm.requests[0][1]["content"]
    assert "question 0" in prompt and "result 0.0" in prompt
    assert "question 2" not in prompt  # full-zone turns are not summarised


async def test_summary_builds_on_the_previous_one() -> None:
    llm = ScriptedSummarizer("first summary", "second summary")
    async with ShortTermMemory(rolling(), summarizer=llm, sleep=no_sleep) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
        await memory.add_turn(turn(3))
        await memory.flush()
    assert memory.summary == "second summary"
    assert "first summary" in llm.requests[1][1]["content"]
    assert "question 1" in llm.requests[1][1]["content"]


async def test_reply_object_with_text_and_cap_on_length() -> None:
    long_reply = Reply(text="fact " * 1000)
    llm = ScriptedSummarizer(long_reply)
    config = rolling(budget=MemoryBudget(full_zone_turns=1, summary_max_tokens=25))
    async with ShortTermMemory(config, summarizer=llm, sleep=no_sleep) as memory:
        await memory.add_turn(turn(0))
        await memory.add_turn(turn(1))
        await memory.flush()
        assert 0 < memory.token_counter.count(memory.summary) <= 25


async def test_zero_summary_budget_never_calls_the_llm() -> None:
    llm = ScriptedSummarizer()
    config = rolling(budget=MemoryBudget(full_zone_turns=1, summary_max_tokens=0))
    async with ShortTermMemory(config, summarizer=llm, sleep=no_sleep) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
    assert llm.requests == []
    assert memory.summary == "" and memory.pending == ()


async def test_failures_are_retried_with_backoff() -> None:
    llm = ScriptedSummarizer(RuntimeError("503"), "", "recovered summary")
    events = Events()
    sleeps = SleepRecorder()
    async with ShortTermMemory(
        rolling(), summarizer=llm, event_callback=events, sleep=sleeps
    ) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
    assert memory.summary == "recovered summary"
    assert memory.health is MemoryHealth.HEALTHY
    assert sleeps.delays == [0.5, 1.0]
    failed = events.of("memory_summary_failed")
    assert [e.details["error"] for e in failed] == [
        "RuntimeError: 503",
        "the LLM returned an empty summary",
    ]
    assert all(e.details["retrying"] for e in failed)
    assert "memory_health_changed" not in events.types()


async def test_repeated_failures_degrade_then_recover() -> None:
    llm = ScriptedSummarizer(*[ConnectionError("down")] * 2, default="back online")
    events = Events()
    clock = FakeClock()
    config = rolling(summary_retry_attempts=2)
    memory = ShortTermMemory(
        config, key=key(), summarizer=llm, event_callback=events, sleep=no_sleep, clock=clock
    )
    async with memory:
        turns = [await memory.add_turn(turn(i)) for i in range(3)]
        await memory.flush()
        # Degraded: the pending turn was dropped, like truncation would.
        assert memory.health is MemoryHealth.DEGRADED
        assert memory.pending == () and memory.dropped_turns == 1
        assert ids(memory.turns) == ids(turns[1:])
        final = events.of("memory_summary_failed")[-1]
        assert final.details == {
            "turns": 1,
            "attempts": 2,
            "error": "ConnectionError: down",
            "retrying": False,
        }
        change = events.of("memory_health_changed")[0]
        assert change.health is MemoryHealth.DEGRADED
        assert change.details["previous"] == "healthy"
        context = await memory.get_llm_context()
        assert context.health == "degraded"

        # During the cool-down, overflow is truncated and the LLM is left alone.
        await memory.add_turn(turn(3))
        await memory.flush()
        assert len(llm.requests) == 2
        assert memory.dropped_turns == 2 and memory.pending == ()

        # After the cool-down the summariser is tried again and health recovers.
        clock.now += 61
        await memory.add_turn(turn(4))
        await memory.flush()
    assert memory.health is MemoryHealth.HEALTHY
    assert memory.summary == "back online"
    healths = [e.health for e in events.of("memory_health_changed")]
    assert healths == [MemoryHealth.DEGRADED, MemoryHealth.RECOVERING, MemoryHealth.HEALTHY]


async def test_failed_recovery_degrades_again() -> None:
    llm = ScriptedSummarizer(default=TimeoutError("slow"))
    events = Events()
    clock = FakeClock()
    config = rolling(summary_retry_attempts=1)
    async with ShortTermMemory(
        config, summarizer=llm, event_callback=events, sleep=no_sleep, clock=clock
    ) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
        clock.now += 61
        await memory.add_turn(turn(3))
        await memory.flush()
    assert memory.health is MemoryHealth.DEGRADED
    healths = [e.health for e in events.of("memory_health_changed")]
    assert healths == [MemoryHealth.DEGRADED, MemoryHealth.RECOVERING, MemoryHealth.DEGRADED]


async def test_summariser_timeout_counts_as_failure() -> None:
    class Hangs:
        async def complete(self, **kwargs: object) -> str:
            await asyncio.Event().wait()
            return "never"

    config = rolling(summary_retry_attempts=1, summary_timeout_s=0.05)
    events = Events()
    async with ShortTermMemory(
        config, summarizer=Hangs(), event_callback=events, sleep=no_sleep
    ) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
    assert memory.health is MemoryHealth.DEGRADED
    assert events.of("memory_summary_failed")[-1].details["error"] == "no reply within 0.05 s"


async def test_non_text_reply_is_a_failure() -> None:
    llm = ScriptedSummarizer(12345, default="fine")
    events = Events()
    async with ShortTermMemory(
        rolling(), summarizer=llm, event_callback=events, sleep=no_sleep
    ) as memory:
        for i in range(3):
            await memory.add_turn(turn(i))
        await memory.flush()
    assert memory.summary == "fine"
    assert "expected str or .text" in events.of("memory_summary_failed")[0].details["error"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_failing_event_callback_never_breaks_memory(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def sync_callback(event: MemoryEvent) -> None:
        seen.append(event.event_type)
        raise ValueError("callback bug")

    async def async_callback(event: MemoryEvent) -> None:
        seen.append(event.event_type)
        raise ValueError("callback bug")

    callback = sync_callback if kind == "sync" else async_callback
    llm = ScriptedSummarizer("ok")
    with caplog.at_level(logging.ERROR, logger="penguiflow.memory"):
        async with ShortTermMemory(
            rolling(), summarizer=llm, event_callback=callback, sleep=no_sleep
        ) as memory:
            for i in range(3):
                await memory.add_turn(turn(i))
            await memory.flush()
    assert memory.summary == "ok"
    assert seen == ["memory_summary_started", "memory_summary_finished"]
    assert "memory event callback failed" in caplog.text


async def test_cancelled_summary_resumes_after_restart() -> None:
    store = InMemoryMemoryStore()
    llm = ScriptedSummarizer("never used")
    llm.gate = asyncio.Event()
    first = ShortTermMemory(rolling(), key=key(), store=store, summarizer=llm, sleep=no_sleep)
    turns = [await first.add_turn(turn(i)) for i in range(3)]
    await asyncio.wait_for(llm.started.wait(), 5)
    await first.aclose(wait=False)  # shutdown without waiting for the LLM

    second_llm = ScriptedSummarizer("summary after restart")
    second = ShortTermMemory(
        rolling(), key=key(), store=store, summarizer=second_llm, sleep=no_sleep
    )
    async with second:
        assert ids(second.pending) == [turns[0].id]  # still pending in the store
        await second.flush()
    assert second.summary == "summary after restart"
    assert second.pending == ()
    assert len(llm.requests) == 1 and len(second_llm.requests) == 1


async def test_too_many_pending_turns_drop_the_oldest() -> None:
    llm = ScriptedSummarizer("s")
    llm.gate = asyncio.Event()
    config = rolling(budget=MemoryBudget(full_zone_turns=1), max_pending_turns=2)
    async with ShortTermMemory(config, summarizer=llm, sleep=no_sleep) as memory:
        turns = [await memory.add_turn(turn(i)) for i in range(2)]
        await asyncio.wait_for(llm.started.wait(), 5)
        turns += [await memory.add_turn(turn(i)) for i in range(2, 5)]
        assert ids(memory.pending) == ids(turns[2:4])
        assert memory.dropped_turns == 2
        llm.gate.set()
