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

HEAVY = ("redis", "httpx", "starlette", "sqlalchemy", "litellm")
UPPER = ("penguiflow.planner", "penguiflow.sessions", "penguiflow.tools", "penguiflow.server")


def loaded_after(imports: str) -> set[str]:
    """The heavy and upper-layer packages a fresh interpreter holds after ``imports``."""
    code = (
        f"import sys\n{imports}\n"
        f"print(','.join(m for m in {HEAVY + UPPER!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(filter(None, out.stdout.strip().split(",")))


def test_the_package_and_the_worker_import_no_heavy_or_planner_code() -> None:
    imports = (
        "import penguiflow.scaleout, penguiflow.scaleout.worker, penguiflow.scaleout.remote\n"
        "from penguiflow.scaleout import InMemoryJobQueue, RetryPolicy, Worker"
    )
    assert loaded_after(imports) == set()


def test_the_redis_adapters_import_redis_and_nothing_else_heavy() -> None:
    imports = "import penguiflow.scaleout.redis_queue, penguiflow.scaleout.redis_bus"
    assert loaded_after(imports) == {"redis"}


def test_the_package_loads_the_redis_adapters_on_first_use() -> None:
    from penguiflow import scaleout
    from penguiflow.scaleout.redis_bus import RedisMessageBus
    from penguiflow.scaleout.redis_queue import RedisJobQueue

    assert scaleout.RedisJobQueue is RedisJobQueue
    assert scaleout.RedisMessageBus is RedisMessageBus
    assert {"RedisJobQueue", "RedisMessageBus", "Worker"} <= set(dir(scaleout))
    with pytest.raises(AttributeError, match="RedisQueue"):
        scaleout.RedisQueue  # noqa: B018


HIDE_REDIS = """
import sys

class HideRedis:
    def find_spec(self, name, path=None, target=None):
        if name == "redis" or name.startswith("redis."):
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, HideRedis())
"""


def test_without_redis_the_package_imports_and_the_redis_adapters_name_the_extra() -> None:
    code = HIDE_REDIS + (
        "from penguiflow.scaleout import InMemoryJobQueue, Worker\n"
        "for statement in (\n"
        "    'import penguiflow.scaleout.redis_queue',\n"
        "    'import penguiflow.scaleout.redis_bus',\n"
        "    'from penguiflow.scaleout import RedisJobQueue',\n"
        "    'from penguiflow.scaleout import RedisMessageBus',\n"
        "):\n"
        "    try:\n"
        "        exec(statement)\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
        "    else:\n"
        "        print('imported:', statement)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4
    for line in lines:
        assert "pip install 'penguiflow[redis]'" in line, line


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
