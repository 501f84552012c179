"""Suite-wide test settings: no real LLM provider is ever called unless a test opts in."""

from collections.abc import Iterator

import pytest

from penguiflow.planner.llm import allow_model_requests

# SQLite and PostgreSQL database fixtures (db_url, sqlite_url, pg_server...) for every package.
pytest_plugins = ["pg_fixture"]


@pytest.fixture(autouse=True)
def _block_model_requests() -> Iterator[None]:
    with allow_model_requests(False):
        yield


@pytest.fixture(params=["json", "native"])
def tool_mode(request: pytest.FixtureRequest) -> str:
    """A planner ``tool_mode``: the suites that use it run in both dialects.

    A test written for one dialect overrides it with
    ``@pytest.mark.parametrize("tool_mode", ["json"])``.
    """
    mode: str = request.param
    return mode
