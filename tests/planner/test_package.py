"""The package surface: exports, lazy heavy imports, the error tree."""

from __future__ import annotations

import subprocess
import sys

import penguiflow.planner as planner
from penguiflow.errors import RunError, UsageError
from penguiflow.planner import errors


def test_all_is_sorted_and_resolves() -> None:
    assert planner.__all__ == sorted(planner.__all__)
    for name in planner.__all__:
        assert getattr(planner, name) is not None, name


def test_import_does_not_load_litellm() -> None:
    code = (
        "import sys, penguiflow.planner as p\n"
        "assert 'litellm' not in sys.modules, 'litellm imported eagerly'\n"
        "p.ReactPlanner; p.ScriptedLLM\n"
        "assert 'litellm' not in sys.modules\n"
        "p.LiteLLMClient\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_planner_errors_are_in_the_tree_and_pickle() -> None:
    import pickle

    assert issubclass(errors.PlannerClosedError, UsageError)
    assert issubclass(errors.RunStateError, UsageError) and issubclass(
        errors.RunStateError, ValueError
    )
    err = errors.RunStateError("r1", 3, 1)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.run_id, copy.version, copy.supported) == ("r1", 3, 1)
    assert "version 3" in str(copy)
    assert issubclass(errors.LLMError, RunError)
    assert "PlannerClosedError" in (errors.__doc__ or "")
