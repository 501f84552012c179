"""Tests against a real model on an OpenAI-compatible server: ``make test-llm`` only.

``make test`` leaves them out (marker ``local_llm``). The server and model come from
``PENGUIFLOW_LOCAL_LLM_URL`` (default ``http://127.0.0.1:8765/v1``) and
``PENGUIFLOW_LOCAL_LLM_MODEL`` (default ``openai/gemma-3-270m``). A table of what each
question ended with is printed at the end of the session.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from types import ModuleType
from typing import Any

import pytest
from llm_support import MODEL, OUTCOMES, URL, load_example


@pytest.fixture(scope="session")
def server() -> str:
    """The server's ``/v1`` URL; fails (not skips) when nothing answers there."""
    try:
        with urllib.request.urlopen(f"{URL}/models", timeout=10) as reply:
            reply.read()
    except (urllib.error.URLError, OSError) as exc:
        pytest.fail(
            f"no OpenAI-compatible server answers at {URL}/models ({exc}); start one "
            "(docs/local-models.md) or set PENGUIFLOW_LOCAL_LLM_URL",
            pytrace=False,
        )
    return URL


@pytest.fixture(scope="session")
def example() -> ModuleType:
    """The example agent module (``examples/local_model/agent.py``)."""
    return load_example()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"local model: {MODEL} at {URL}")
    for mode in dict.fromkeys(o.mode for o in OUTCOMES):
        rows = [o for o in OUTCOMES if o.mode == mode]
        calls = sum(1 for o in rows if o.calls)
        ok = sum(1 for o in rows if o.ok_calls)
        answers = sum(1 for o in rows if o.ended == "answer_complete")
        write(
            f"{mode}: {calls}/{len(rows)} made a schema-valid tool call, {ok}/{len(rows)} one "
            f"the tool accepted, {answers}/{len(rows)} ended with an answer"
        )
        for o in rows:
            write(
                f"  {o.question!r}: {o.ended} in {o.seconds:.1f}s; {o.calls} call(s), "
                f"{o.ok_calls} accepted; prompt tokens per request {o.prompt_tokens}; "
                f"answer {o.answer!r}"
            )
