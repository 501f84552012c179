"""What the local-model tests share: the server settings and the outcome table."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

URL = os.environ.get("PENGUIFLOW_LOCAL_LLM_URL", "http://127.0.0.1:8765/v1").rstrip("/")
MODEL = os.environ.get("PENGUIFLOW_LOCAL_LLM_MODEL", "openai/gemma-3-270m")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "local_model" / "agent.py"


@dataclass
class Outcome:
    """How one question ended, for the summary table."""

    mode: str
    question: str
    ended: str
    calls: int  # schema-valid tool calls that ran
    ok_calls: int  # of which the tool returned a result
    answer: str
    seconds: float
    prompt_tokens: list[int]


OUTCOMES: list[Outcome] = []


def load_example() -> ModuleType:
    """The example agent module (``examples/local_model/agent.py``)."""
    spec = importlib.util.spec_from_file_location("local_model_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
