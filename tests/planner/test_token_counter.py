from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from penguiflow.planner import tokens
from penguiflow.planner.tokens import (
    MESSAGE_OVERHEAD,
    REPLY_OVERHEAD,
    TokenCounter,
    encoding_name_for,
)


def test_encoding_names() -> None:
    assert encoding_name_for("gpt-4o") == "o200k_base"
    assert encoding_name_for("openai/gpt-4o-mini") == "o200k_base"
    assert encoding_name_for("gpt-4") == "cl100k_base"
    assert encoding_name_for("ollama/llama3") == "cl100k_base"
    assert encoding_name_for(None) == "cl100k_base"


def test_tiktoken_loads_offline() -> None:
    counter = TokenCounter("gpt-4o")
    assert counter.exact
    assert counter.count_text("hello world") == 2
    assert counter.count_text("") == 0


def test_message_accounting() -> None:
    counter = TokenCounter()
    messages = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hi"}]
    expected = REPLY_OVERHEAD + 2 * MESSAGE_OVERHEAD + counter.count_text("hello world") + 1
    assert counter.count_messages(messages) == expected


def test_special_tokens_in_text_are_counted_not_refused() -> None:
    assert TokenCounter().count_text("<|endoftext|>") > 0


@pytest.fixture
def no_local_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(tokens, "_cache_dirs", lambda: [tmp_path])
    tokens._load_encoding.cache_clear()
    yield
    tokens._load_encoding.cache_clear()


def test_fallback_estimate_without_files(no_local_files: None) -> None:
    counter = TokenCounter("gpt-4o")
    assert not counter.exact
    assert counter.count_text("abcd") == 1
    assert counter.count_text("abcde") == 2
    assert counter.count_text("é" * 4) == 2  # 8 UTF-8 bytes
