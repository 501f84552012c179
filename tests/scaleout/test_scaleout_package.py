"""The scale-out modules: light imports, the dependency direction, picklable errors."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from penguiflow.errors import RunError
from penguiflow.scaleout.worker import (
    JobCancelledError,
    JobTimeoutError,
    PermanentJobError,
    QueueBackendError,
)


def test_runtime_scaleout_modules_import_no_heavy_or_planner_code() -> None:
    code = (
        "import sys\n"
        "import penguiflow.scaleout.worker, penguiflow.scaleout.remote, penguiflow.scaleout.redis_queue, "
        "penguiflow.scaleout.redis_bus\n"
        "loaded = [m for m in ('redis', 'httpx', 'starlette', 'sqlalchemy', 'litellm', "
        "'penguiflow.planner', 'penguiflow.sessions', 'penguiflow.tools') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "error",
    [
        PermanentJobError("order 42 does not exist"),
        JobTimeoutError("j1", "job-j1", 2.5),
        JobCancelledError("j2"),
        QueueBackendError("fetch", "jobs", "ConnectionError: refused"),
    ],
)
def test_errors_pickle_with_their_fields(error: RunError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and vars(copy) == vars(error) and str(copy) == str(error)
    assert isinstance(copy, RunError)
    if isinstance(error, JobTimeoutError):
        assert isinstance(copy, TimeoutError) and "job_timeout_s" in str(copy)
