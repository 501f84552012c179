"""ReactPlanner with short-term memory: recall, persistence, isolation, budgets, failures."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from planner_helpers import act, basic_tools, final
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.errors import ConfigError
from penguiflow.memory import (
    InMemoryMemoryStore,
    MemoryBudget,
    MemoryIsolation,
    MemoryKey,
    ShortTermMemoryConfig,
)
from penguiflow.memory.context import MEMORY_HEADER
from penguiflow.memory.errors import MemoryBudgetError
from penguiflow.memory.summariser import DEFAULT_SUMMARY_PROMPT
from penguiflow.memory.tokens import get_token_counter
from penguiflow.planner import PlannerEvent, ReactPlanner
from penguiflow.planner.llm_types import LLMRequest
from penguiflow.planner.run_state import RunState
from penguiflow.planner.testing import FunctionLLM, ScriptedLLM
from penguiflow.planner.tokens import REPLY_PRIMING
from penguiflow.sessions import SqlSessionStore

KEY = MemoryKey(tenant_id="acme", user_id="ada", session_id="chat-1")
TRUNCATION = ShortTermMemoryConfig(strategy="truncation")
SUMMARY_MARK = DEFAULT_SUMMARY_PROMPT[:40]


def memory_block(messages: list[dict[str, Any]]) -> str | None:
    blocks = [m["content"] for m in messages if str(m["content"]).startswith(MEMORY_HEADER)]
    assert len(blocks) <= 1
    return blocks[0] if blocks else None


def is_summary_request(messages: list[dict[str, Any]]) -> bool:
    return str(messages[0]["content"]).startswith(SUMMARY_MARK)


def recalling_llm() -> FunctionLLM:
    """Answers "where do I live" from the memory block only; echoes everything else."""

    def reply(messages: list[dict[str, Any]], response_format: Any) -> str:
        if is_summary_request(messages):
            return "The user said they live in Lisbon."
        query = messages[-1]["content"]
        if "Where do I live" in query:
            block = memory_block(messages) or ""
            match = re.search(r"live in (\w+)", block)
            return final(f"You live in {match.group(1)}." if match else "I do not know.")
        return final("Noted.")

    return FunctionLLM(reply)


@pytest.fixture
async def planners(tool_mode: str) -> AsyncIterator[Callable[..., ReactPlanner]]:
    made: list[ReactPlanner] = []

    def factory(llm: Any, **kwargs: Any) -> ReactPlanner:
        kwargs.setdefault("catalog", [])
        kwargs.setdefault("tool_mode", tool_mode)
        kwargs.setdefault("short_term_memory", TRUNCATION)
        planner = ReactPlanner(llm_client=llm, **kwargs)
        made.append(planner)
        return planner

    yield factory
    for planner in made:
        await planner.aclose()


@pytest.fixture
async def sql_store(tmp_path: Path) -> AsyncIterator[SqlSessionStore]:
    async with SqlSessionStore(f"sqlite+aiosqlite:///{tmp_path / 'memory.sqlite3'}") as store:
        yield store


async def test_recall_across_runs_in_a_separate_read_only_block(
    planners: Callable[..., ReactPlanner],
) -> None:
    llm = recalling_llm()
    planner = planners(llm)
    first = await planner.run("I live in Lisbon.", memory_key=KEY)
    assert first.metadata["memory"] == {
        "key": "acme/ada/chat-1",
        "tokens": 0,
        "turns": 0,
        "omitted_turns": 0,
        "health": "healthy",
        "recorded": True,
        "condensed": False,
    }
    assert memory_block(llm.requests[0].messages) is None  # nothing remembered yet

    second = await planner.run("Where do I live?", memory_key=KEY)
    assert second.payload is not None and second.payload.raw_answer == "You live in Lisbon."
    messages = llm.requests[-1].messages
    # system prompt, then memory as its own system message, then the query alone
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert messages[1]["content"].startswith(MEMORY_HEADER)
    assert "User: I live in Lisbon." in messages[1]["content"]
    assert "Lisbon" not in messages[2]["content"] and "Where do I live?" in messages[2]["content"]
    assert second.metadata["memory"]["turns"] == 1
    assert second.metadata["memory"]["tokens"] == get_token_counter(None).count_message(messages[1])


async def test_tool_calls_are_remembered_with_their_results(
    planners: Callable[..., ReactPlanner],
) -> None:
    nodes, registry = basic_tools()
    llm = ScriptedLLM(
        [act("search", {"text": "penguins"}), act("broken", {"text": "x"}), final("3"), final()]
    )
    planner = planners(llm, catalog=None, nodes=nodes, registry=registry)
    await planner.run("look it up", memory_key=KEY)
    await planner.run("again", memory_key=KEY)
    block = memory_block(llm.requests[-1].messages) or ""
    assert 'Tool search({"text":"penguins"}) -> {"value":"found:penguins:3"}' in block
    assert 'Tool broken({"text":"x"}) failed:' in block
    assert "Assistant: 3" in block


async def test_memory_survives_a_restart_with_a_sqlite_store(
    tmp_path: Path, tool_mode: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.sqlite3'}"
    async with SqlSessionStore(url) as store:
        planner = ReactPlanner(
            tool_mode=tool_mode,
            llm_client=recalling_llm(),
            catalog=[],
            short_term_memory=TRUNCATION,
            state_store=store,
        )
        await planner.run("I live in Porto.", memory_key=KEY)
        await planner.aclose()
    # a new store object and a new planner: only the file is shared
    async with SqlSessionStore(url) as store:
        llm = recalling_llm()
        planner = ReactPlanner(
            tool_mode=tool_mode,
            llm_client=llm,
            catalog=[],
            short_term_memory=TRUNCATION,
            state_store=store,
        )
        result = await planner.run("Where do I live?", memory_key=KEY)
        await planner.aclose()
        state, version = await store.load_memory(KEY)
    assert result.payload is not None and result.payload.raw_answer == "You live in Porto."
    assert state is not None and version == 2 and len(state["recent"]) == 2


async def test_tenants_and_users_never_see_each_other(
    planners: Callable[..., ReactPlanner], sql_store: SqlSessionStore
) -> None:
    llm = recalling_llm()
    planner = planners(llm, state_store=sql_store)
    await planner.run("I live in Lisbon.", memory_key=KEY)
    other_tenant = MemoryKey(tenant_id="globex", user_id="ada", session_id="chat-1")
    other_user = {"tenant_id": "acme", "user_id": "bob", "session_id": "chat-1"}
    for key in (other_tenant, other_user):
        result = await planner.run("Where do I live?", memory_key=key)
        assert result.payload is not None and result.payload.raw_answer == "I do not know."
        assert memory_block(llm.requests[-1].messages) is None
    # the key derived from tool_context follows the same rules
    context = {"tenant_id": "globex", "user_id": "ada", "session_id": "chat-1"}
    result = await planner.run("Where do I live?", tool_context=context)
    assert result.metadata["memory"]["key"] == "globex/ada/chat-1"
    assert result.metadata["memory"]["turns"] == 1  # globex's own earlier turn only
    assert "Lisbon" not in (memory_block(llm.requests[-1].messages) or "")


async def test_the_run_gets_the_tenant_of_its_memory_key(
    planners: Callable[..., ReactPlanner],
) -> None:
    tenants: list[str] = []

    class Args(BaseModel):
        x: int = 0

    class Out(BaseModel):
        tenant: str

    @tool(desc="who am I")
    async def whoami(args: Args, ctx: Any) -> Out:
        tenants.append(ctx.meta["tenant_id"])
        return Out(tenant=ctx.meta["tenant_id"])

    registry = ModelRegistry()
    registry.register("whoami", Args, Out)
    llm = ScriptedLLM([act("whoami"), final()])
    planner = planners(llm, catalog=None, nodes=[Node(whoami, name="whoami")], registry=registry)
    await planner.run("who?", memory_key=KEY)
    assert tenants == ["acme"]
    with pytest.raises(ConfigError, match="differs from the memory key's tenant"):
        await planner.run("who?", memory_key=KEY, tenant_id="globex")


async def test_no_key_means_no_memory_and_nothing_shared(
    planners: Callable[..., ReactPlanner],
) -> None:
    store = InMemoryMemoryStore()
    llm = recalling_llm()
    planner = planners(llm, state_store=store)
    incomplete = [
        None,
        {},
        {"session_id": "chat-1"},  # tenant and user missing: require_explicit_key
        {"tenant_id": "acme", "user_id": "ada", "session_id": ""},
        {"tenant_id": "acme", "user_id": "ada"},
    ]
    for context in incomplete:
        result = await planner.run("I live in Lisbon.", tool_context=context)
        assert "memory" not in result.metadata
        assert memory_block(llm.requests[-1].messages) is None
    for context in incomplete:
        result = await planner.run("Where do I live?", tool_context=context)
        assert result.payload is not None and result.payload.raw_answer == "I do not know."
    assert store.keys() == [] and store.saves == 0


async def test_lenient_isolation_still_needs_a_session(
    planners: Callable[..., ReactPlanner],
) -> None:
    config = ShortTermMemoryConfig(
        strategy="truncation", isolation=MemoryIsolation(require_explicit_key=False)
    )
    store = InMemoryMemoryStore()
    planner = planners(recalling_llm(), short_term_memory=config, state_store=store)
    await planner.run("I live in Lisbon.", tool_context={"session_id": "s1"})
    await planner.run("I live in Lisbon.", tool_context={"user_id": "u"})
    assert store.keys() == [MemoryKey(tenant_id="default", user_id="default", session_id="s1")]


async def test_memory_key_without_memory_config_is_refused() -> None:
    planner = ReactPlanner(llm_client=ScriptedLLM([final()]), catalog=[])
    with pytest.raises(ConfigError, match="short_term_memory"):
        await planner.run("q", memory_key=KEY)
    await planner.aclose()


async def test_bad_memory_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="ShortTermMemoryConfig"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=[], short_term_memory={"x": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="load_memory"):
        ReactPlanner(
            llm_client=ScriptedLLM([]), catalog=[], short_term_memory=TRUNCATION, state_store=42
        )
    planner = ReactPlanner(llm_client=ScriptedLLM([]), catalog=[], short_term_memory=TRUNCATION)
    with pytest.raises(ConfigError, match="session_id"):
        await planner.run("q", memory_key={"tenant_id": "a", "user_id": "b"})
    await planner.aclose()


async def test_strategy_none_turns_memory_off(planners: Callable[..., ReactPlanner]) -> None:
    llm = recalling_llm()
    planner = planners(llm, short_term_memory=ShortTermMemoryConfig(strategy="none"))
    await planner.run("I live in Lisbon.", memory_key=KEY)
    result = await planner.run("Where do I live?", memory_key=KEY)
    assert "memory" not in result.metadata and memory_block(llm.requests[-1].messages) is None


async def test_concurrent_runs_on_one_session_lose_no_turns(tmp_path: Path, tool_mode: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    config = ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=100))

    async def slow_answer(messages: list[dict[str, Any]], response_format: Any) -> str:
        await asyncio.sleep(0)
        return final("ok")

    async with SqlSessionStore(url) as first_store, SqlSessionStore(url) as second_store:
        # two planners (as two workers would be), each with its own store connection
        first = ReactPlanner(
            tool_mode=tool_mode,
            llm_client=FunctionLLM(slow_answer), catalog=[],
            short_term_memory=config, state_store=first_store,
        )  # fmt: skip
        second = ReactPlanner(
            tool_mode=tool_mode,
            llm_client=FunctionLLM(slow_answer), catalog=[],
            short_term_memory=config, state_store=second_store,
        )  # fmt: skip
        runs = [
            planner.run(f"message {i}", memory_key=KEY)
            for i in range(8)
            for planner in (first, second)
        ]
        results = await asyncio.gather(*runs)
        await first.aclose()
        await second.aclose()
        state, _ = await first_store.load_memory(KEY)
    assert all(r.metadata["memory"]["recorded"] for r in results)
    assert state is not None
    users = sorted(turn["user"] for turn in state["recent"])
    assert users == sorted(f"message {i}" for i in range(8) for _ in range(2))


async def test_a_failing_summariser_never_fails_a_run(
    planners: Callable[..., ReactPlanner],
) -> None:
    events: list[PlannerEvent] = []
    summarizer = ScriptedLLM([RuntimeError("summariser down")] * 20)
    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=1),
        summarizer_llm=summarizer,
        summary_retry_attempts=2,
        summary_retry_backoff_base=0.0,
        recovery_cooldown_s=3600,
    )
    llm = ScriptedLLM([final(f"answer {i}") for i in range(4)])
    planner = planners(llm, short_term_memory=config, event_callback=events.append)
    results = [await planner.run(f"message {i}", memory_key=KEY) for i in range(4)]
    await planner.aclose()  # waits for the background summaries
    assert [r.reason for r in results] == ["answer_complete"] * 4
    assert all(r.metadata["memory"]["recorded"] for r in results)
    types = [e.event_type for e in events]
    assert "memory_summary_started" in types
    failed = [e for e in events if e.event_type == "memory_summary_failed"]
    assert failed and failed[-1].extra["retrying"] is False
    assert "summariser down" in failed[-1].extra["error"]
    health = [e for e in events if e.event_type == "memory_health_changed"]
    assert health[0].extra == {
        "key": "acme/ada/chat-1",
        "health": "degraded",
        "previous": "healthy",
        "reason": "summariser failed; truncating",
    }
    assert health[0].run_id in {r.metadata["run_id"] for r in results[1:]}
    # degraded memory truncates: the latest turn is still shown
    assert "User: message 2" in (memory_block(llm.requests[-1].messages) or "")


async def test_rolling_summary_through_the_planner_client(
    planners: Callable[..., ReactPlanner],
) -> None:
    events: list[PlannerEvent] = []
    llm = recalling_llm()
    config = ShortTermMemoryConfig(
        strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=1)
    )
    planner = planners(llm, short_term_memory=config, event_callback=events.append)
    await planner.run("I live in Lisbon.", memory_key=KEY)
    await planner.run("I like tea.", memory_key=KEY)  # the Lisbon turn leaves the full zone
    pool = planner._memory.pool
    assert pool is not None
    await pool.flush()
    result = await planner.run("Where do I live?", memory_key=KEY)
    assert result.payload is not None and result.payload.raw_answer == "You live in Lisbon."
    block = memory_block(llm.requests[-1].messages) or ""
    assert "Summary of the earlier conversation:\nThe user said they live in Lisbon." in block
    assert any(is_summary_request(r.messages) for r in llm.requests)
    finished = [e for e in events if e.event_type == "memory_summary_finished"]
    assert finished and finished[0].extra["applied"] is True


async def test_a_huge_single_turn_is_condensed(planners: Callable[..., ReactPlanner]) -> None:
    config = ShortTermMemoryConfig(
        strategy="truncation", budget=MemoryBudget(full_zone_turns=3, total_max_tokens=400)
    )
    huge = "penguin " * 100_000
    nodes, registry = basic_tools()
    llm = ScriptedLLM([act("search", {"text": "x" * 4000}), final(huge), final("small")])
    planner = planners(llm, short_term_memory=config, catalog=None, nodes=nodes, registry=registry)
    first = await planner.run("tell me everything " * 2000, memory_key=KEY)
    assert first.reason == "answer_complete" and first.metadata["memory"]["condensed"] is True
    second = await planner.run("and now?", memory_key=KEY)
    block = memory_block(llm.requests[-1].messages) or ""
    assert "…[cut]" in block
    assert 0 < second.metadata["memory"]["tokens"] <= 400 + 4  # the message adds its framing


async def test_store_failure_leaves_the_run_without_memory(
    planners: Callable[..., ReactPlanner],
) -> None:
    class BrokenStore(InMemoryMemoryStore):
        async def load_memory(self, key: MemoryKey) -> tuple[dict[str, Any] | None, int]:
            raise OSError("disk on fire")

    llm = recalling_llm()
    planner = planners(llm, state_store=BrokenStore())
    result = await planner.run("I live in Lisbon.", memory_key=KEY)
    assert result.reason == "answer_complete"
    assert "disk on fire" in result.metadata["memory"]["error"]
    assert result.metadata["memory"]["recorded"] is False


async def test_overflow_policy_error_is_raised(planners: Callable[..., ReactPlanner]) -> None:
    config = ShortTermMemoryConfig(
        strategy="truncation",
        budget=MemoryBudget(total_max_tokens=60, overflow_policy="error"),
    )
    planner = planners(ScriptedLLM([final("a" * 50), final()]), short_term_memory=config)
    await planner.run("remember " * 30, memory_key=KEY)
    with pytest.raises(MemoryBudgetError):
        await planner.run("and?", memory_key=KEY)


async def test_resumed_state_records_its_turn_once(planners: Callable[..., ReactPlanner]) -> None:
    """The hook pause/resume relies on: the key travels in RunState.extensions."""
    store = InMemoryMemoryStore()
    llm = ScriptedLLM([final("first"), final("again")])
    planner = planners(llm, state_store=store)
    state = RunState(query="hello", extensions={"memory": {"key": KEY.model_dump()}})
    state = RunState.model_validate_json(state.model_dump_json())  # as if stored and loaded
    result = await planner.run_from_state(state)
    turn_id = state.extensions["memory"]["turn_id"]
    assert result.metadata["memory"]["recorded"] is True and isinstance(turn_id, str)
    await planner.run_from_state(state)  # continued again: no second turn
    stored, _ = await store.load_memory(KEY)
    assert stored is not None and [t["id"] for t in stored["recent"]] == [turn_id]


def _request_tokens(planner: ReactPlanner, request: LLMRequest) -> int:
    """What a request costs: its messages, and its response_format or tools."""
    counter = planner._tokens.counter
    sent = request.response_format or request.tools
    return counter.count_messages(request.messages) + (counter.count_json(sent) if sent else 0)


async def test_token_accountant_keeps_every_request_under_the_window(
    planners: Callable[..., ReactPlanner], tool_mode: str
) -> None:
    events: list[PlannerEvent] = []
    nodes, registry = basic_tools()
    config = ShortTermMemoryConfig(
        strategy="truncation",
        budget=MemoryBudget(full_zone_turns=20, total_max_tokens=50_000),
    )
    calls = iter(range(1000))

    def reply(messages: list[dict[str, Any]], response_format: Any) -> str:
        i = next(calls)
        if i % 4 == 3:
            return final("done " + "word " * 300)
        return act("search", {"text": f"{i} " + "lorem ipsum " * 250})

    llm = FunctionLLM(reply)
    probe = ReactPlanner(llm_client=llm, nodes=nodes, registry=registry, tool_mode=tool_mode)
    head = probe._tokens.counter.count_message({"role": "system", "content": probe.system_prompt})
    await probe.aclose()
    window, reserve = head + 6000, 1000
    planner = planners(
        llm, catalog=None, nodes=nodes, registry=registry, short_term_memory=config,
        context_window=window, reserved_output_tokens=reserve, event_callback=events.append,
    )  # fmt: skip
    results = [await planner.run(f"question {i}", memory_key=KEY) for i in range(6)]
    assert all(r.reason == "answer_complete" for r in results)
    requests = [r for r in llm.requests if not is_summary_request(r.messages)]
    assert len(requests) == 24
    sent = [e.extra["tokens"] for e in events if e.event_type == "llm_request"]
    for request, reported in zip(requests, sent, strict=True):
        tokens = _request_tokens(planner, request)
        assert tokens == reported  # the accountant counts exactly what is sent
        assert tokens <= window - reserve
    # memory had more to say than fits: it was cut to its share of the window
    last = results[-1].metadata
    assert last["memory"]["omitted_turns"] > 0
    assert last["memory"]["tokens"] <= (window - reserve - REPLY_PRIMING - head) // 2
    assert last["budgets"]["compactions"] > 0


async def test_a_window_too_small_for_the_prompt_ends_the_run(
    planners: Callable[..., ReactPlanner],
) -> None:
    llm = ScriptedLLM([final()])
    planner = planners(llm, context_window=200, reserved_output_tokens=100)
    result = await planner.run("q " * 500, memory_key=KEY)
    assert result.reason == "budget_exhausted"
    assert result.metadata["budget"] == "context_window"
    assert "context_window=200 minus reserved_output_tokens=100" in result.metadata["error"]
    assert llm.requests == []


async def test_requests_are_counted_only_when_a_limit_applies(
    planners: Callable[..., ReactPlanner],
) -> None:
    llm = ScriptedLLM([final("a"), final("b"), final("c")])
    unlimited = planners(llm)
    await unlimited.run("one", memory_key=KEY)
    result = await unlimited.run("two", memory_key=KEY)
    assert result.metadata["budgets"]["tokens_last_request"] == 0
    assert result.metadata["budgets"]["tokens_sent"] == 0
    assert json.loads(json.dumps(result.metadata["memory"]))["turns"] == 1

    windowed = planners(llm, context_window=100_000)
    result = await windowed.run("three", memory_key=KEY)
    request = llm.requests[-1]
    assert result.metadata["budgets"]["tokens_last_request"] == _request_tokens(windowed, request)
