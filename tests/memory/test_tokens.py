from __future__ import annotations

import asyncio

import pytest

from penguiflow.memory import _encodings
from penguiflow.memory.tokens import (
    ESTIMATOR_NAME,
    TokenCounter,
    estimate_tokens,
    get_token_counter,
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download allowed and a fresh encoding cache."""
    monkeypatch.setenv(_encodings.OFFLINE_ENV, "1")
    monkeypatch.setattr(_encodings, "_loaded", {})


@pytest.fixture
def nothing_available(offline: None, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_encodings, "_bundled_dirs", lambda: [])


def test_known_token_ids_offline(offline: None) -> None:
    # Reference values of the published encodings.
    cl100k = _encodings.load_encoding("cl100k_base", allow_download=False)
    o200k = _encodings.load_encoding("o200k_base", allow_download=False)
    assert cl100k is not None and o200k is not None
    assert cl100k.encode("hello world") == [15339, 1917]
    assert o200k.encode("hello world") == [24912, 2375]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("openai/gpt-4o-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("azure/gpt-3.5-turbo", "cl100k_base"),
        ("claude-3-5-sonnet", "o200k_base"),
        (None, "o200k_base"),
    ],
)
def test_model_encoding(offline: None, model: str | None, encoding: str) -> None:
    counter = TokenCounter(model)
    assert counter.encoding_name == encoding
    assert counter.exact
    assert counter.count("hello world") == 2


def test_explicit_encoding_overrides_model(offline: None) -> None:
    assert TokenCounter("gpt-4o", encoding="cl100k_base").encoding_name == "cl100k_base"


def test_unknown_encoding_falls_back(offline: None) -> None:
    assert TokenCounter(encoding="no_such_encoding").encoding_name == "o200k_base"


def test_estimator_when_no_encoding_loads(nothing_available: None) -> None:
    counter = TokenCounter("gpt-4o")
    assert counter.encoding_name == ESTIMATOR_NAME
    assert not counter.exact
    assert counter.count("hello world") == 4  # 11 bytes / 3, rounded up
    assert counter.count("") == 0
    assert counter.count("日本") == 2  # 6 UTF-8 bytes
    cut = counter.truncate("日本語のテキスト", 3)
    assert cut == "日本語"
    assert counter.count(cut) <= 3


def test_estimate_is_deterministic() -> None:
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("") == 0


def test_count_ignores_special_token_text(offline: None) -> None:
    counter = TokenCounter("gpt-4o")
    assert counter.count("<|endoftext|>") > 1  # counted as plain text, no error


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 17, 1000])
def test_truncate_fits_and_is_a_prefix(offline: None, limit: int) -> None:
    counter = TokenCounter("gpt-4o")
    text = "Héllo wörld, ünïcode 😀😀 and some more text to cut. " * 20
    cut = counter.truncate(text, limit)
    assert counter.count(cut) <= limit
    assert text.startswith(cut)
    if limit >= counter.count(text):
        assert cut == text
    elif limit >= 5:
        assert counter.count(cut) >= limit - 2


def test_count_messages_matches_the_chat_formula(offline: None) -> None:
    counter = TokenCounter("gpt-4o")
    messages = [
        {"role": "system", "content": "hello world"},
        {"role": "user", "content": "hello world", "name": "ada"},
    ]
    expected = 3 + (3 + 1 + 2) + (3 + 1 + 2 + counter.count("ada") + 1)
    assert counter.count_messages(messages) == expected
    assert counter.count_messages([]) == 3


async def test_warm_loads_in_a_thread(offline: None) -> None:
    counter = TokenCounter("gpt-4")
    await asyncio.wait_for(counter.warm(), 30)
    assert "cl100k_base" in repr(counter)


def test_shared_counter_per_model() -> None:
    assert get_token_counter("gpt-4o") is get_token_counter("gpt-4o")
    assert get_token_counter("gpt-4o") is not get_token_counter("gpt-4")


def test_model_encoding_name() -> None:
    assert _encodings.model_encoding_name("gpt-4o") == "o200k_base"
    assert _encodings.model_encoding_name("my-local-model") is None
    assert _encodings.model_encoding_name(None) is None


# Six chat messages whose prompt_tokens were reported by the OpenAI API in a recorded
# run published in OpenAI's cookbook ("How to count tokens with tiktoken"): 129 for
# gpt-4 / gpt-3.5-turbo (cl100k_base) and 124 for gpt-4o / gpt-4o-mini (o200k_base).
RECORDED_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the "
        "client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "provider_prompt_tokens"),
    [("gpt-4", 129), ("gpt-3.5-turbo", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_message_count_matches_provider_reported_usage(
    offline: None, model: str, provider_prompt_tokens: int
) -> None:
    assert TokenCounter(model).count_messages(RECORDED_MESSAGES) == provider_prompt_tokens
