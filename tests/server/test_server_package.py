"""Without the ``server`` extra, importing the HTTP app names the extra to install."""

from __future__ import annotations

import subprocess
import sys

HIDE_STARLETTE = """
import sys

class HideStarlette:
    def find_spec(self, name, path=None, target=None):
        if name == "starlette" or name.startswith("starlette."):
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, HideStarlette())
"""


def test_without_starlette_the_server_package_names_the_extra() -> None:
    code = HIDE_STARLETTE + (
        "import penguiflow\n"
        "try:\n"
        "    import penguiflow.server\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'penguiflow[server]'" in out.stdout
