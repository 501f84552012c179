"""The planner counts with memory's token counter and knows the request limit."""

from __future__ import annotations

from typing import Any

import pytest

from penguiflow.errors import ConfigError
from penguiflow.memory.tokens import get_token_counter
from penguiflow.planner.tokens import (
    DEFAULT_RESERVED_OUTPUT_TOKENS,
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    TokenAccountant,
    TokenCounter,
    check_window,
)
from penguiflow.planner.tokens import TokenCounter as PlannerTokenCounter


def test_one_counting_mechanism_for_planner_and_memory() -> None:
    from penguiflow.memory.tokens import TokenCounter as MemoryTokenCounter

    assert PlannerTokenCounter is MemoryTokenCounter is TokenCounter
    accountant = TokenAccountant(
        model="gpt-4o", client=None, token_budget=None, context_window=None,
        reserved_output_tokens=None,
    )  # fmt: skip
    assert accountant.counter is get_token_counter("gpt-4o")


def test_message_accounting_is_the_sum_of_its_messages() -> None:
    counter = TokenCounter("gpt-4o")
    messages = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hi"}]
    expected = REPLY_PRIMING + 2 * MESSAGE_OVERHEAD + counter.count("hello world") + 1 + 1 + 1
    assert counter.count_messages(messages) == expected
    assert counter.count_messages(messages) == REPLY_PRIMING + sum(
        counter.count_message(m) for m in messages
    )


def test_count_json_is_compact() -> None:
    counter = TokenCounter("gpt-4o")
    assert counter.count_json({"a": [1, 2]}) == counter.count('{"a":[1,2]}')


def _accountant(**overrides: Any) -> TokenAccountant:
    options: dict[str, Any] = {
        "model": None,
        "client": None,
        "token_budget": None,
        "context_window": None,
        "reserved_output_tokens": None,
    }
    options.update(overrides)
    return TokenAccountant(**options)


def test_no_limit_without_budget_or_window() -> None:
    limit = _accountant().limit
    assert limit.tokens is None and limit.budget == "token_budget"
    assert _accountant().memory_room(100) is None


def test_window_minus_reserved_output() -> None:
    limit = _accountant(context_window=8000, reserved_output_tokens=1000).limit
    assert (limit.tokens, limit.budget) == (7000, "context_window")
    assert "context_window=8000" in limit.describe()


def test_default_reserve_is_capped_at_a_quarter_of_the_window() -> None:
    assert _accountant(context_window=100_000).limit.tokens == (
        100_000 - DEFAULT_RESERVED_OUTPUT_TOKENS
    )
    assert _accountant(context_window=4000).limit.tokens == 3000


def test_smaller_of_token_budget_and_window_binds() -> None:
    assert _accountant(token_budget=500, context_window=8000).limit.budget == "token_budget"
    limit = _accountant(token_budget=9000, context_window=8000, reserved_output_tokens=0).limit
    assert (limit.tokens, limit.budget) == (8000, "context_window")


def test_window_and_reserve_come_from_the_client() -> None:
    class Client:
        context_window = 10_000
        max_output_tokens = 2_500

    limit = _accountant(client=Client()).limit
    assert limit.tokens == 7_500 and limit.reserved_output_tokens == 2_500


def test_litellm_client_knows_the_window_offline() -> None:
    from penguiflow.planner.llm import LiteLLMClient

    client = LiteLLMClient("openai/gpt-4o-mini", max_tokens=1000)
    assert client.context_window == 128_000
    assert client.max_output_tokens == 1000
    assert LiteLLMClient("no-such-provider/no-such-model").context_window is None
    limit = _accountant(client=client).limit
    assert limit.tokens == 127_000


def test_memory_room_is_half_of_what_is_left() -> None:
    accountant = _accountant(token_budget=1003)
    assert accountant.memory_room(0) == 500
    assert accountant.memory_room(2000) == 0


@pytest.mark.parametrize(
    ("window", "reserve"),
    [(0, None), (-5, None), ("8k", None), (True, None), (100, 100), (100, -1), (None, 1.5)],
)
def test_bad_window_arguments(window: Any, reserve: Any) -> None:
    with pytest.raises(ConfigError):
        check_window(window, reserve)


_RUN_AND_REPORT = """
import asyncio, json, sys
from penguiflow.catalog import NodeSpec, tool
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.testing import TestLLM

@tool
async def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

async def main():
    options = json.loads(sys.argv[1])
    async with ReactPlanner(llm_client=TestLLM(), catalog=[NodeSpec.from_function(add)],
                            **options) as planner:
        result = await planner.run("1 + 2?")
    print(json.dumps([result.reason, "tiktoken" in sys.modules]))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("options", "loads_an_encoding"),
    [
        ({}, False),
        ({"tool_mode": "json"}, False),
        ({"token_budget": 4000}, True),
        ({"context_window": 8000}, True),
    ],
)
def test_an_encoding_is_loaded_only_when_something_counts(
    options: dict[str, Any], loads_an_encoding: bool
) -> None:
    # An encoding costs tens of megabytes; a run with no limit to enforce needs none.
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == ["answer_complete", loads_an_encoding]
