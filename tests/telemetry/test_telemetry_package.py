"""The ``otel`` extra: penguiflow imports without it; ``penguiflow.telemetry`` names it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from penguiflow.errors import ConfigError
from penguiflow.planner import ReactPlanner
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.telemetry import Telemetry, installed, instrument, uninstrument

_WITHOUT_SDK = """
import sys

class NoSdk:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoSdk())
import penguiflow, penguiflow.planner, penguiflow.scaleout
from penguiflow import Agent
try:
    import penguiflow.telemetry
except ImportError as exc:
    print(exc)
"""


def test_penguiflow_imports_without_the_extra_and_telemetry_names_it() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SDK], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'penguiflow[otel]'" in out.stdout


def test_instrument_installs_once_and_uninstrument_removes_it() -> None:
    assert installed() is None
    first = instrument()
    second = instrument(capture_content=True)
    try:
        assert installed() is second
        first.uninstall()  # not the installed one: nothing happens
        assert installed() is second
    finally:
        uninstrument()
    assert installed() is None
    uninstrument()  # idempotent


def test_bad_arguments_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="capture_content"):
        Telemetry(capture_content="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"penguiflow\.telemetry\.Telemetry"):
        ReactPlanner(llm_client=ScriptedLLM([]), telemetry=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        ReactPlanner(llm_client=ScriptedLLM([]), name="  ")
