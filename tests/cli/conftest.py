from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import copy_agent


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    """A working directory holding the test agent's agent.toml, tools and client."""
    copy_agent(tmp_path)
    return tmp_path
