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
