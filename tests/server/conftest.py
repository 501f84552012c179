"""The server tests share the scale-out tests' planner and loopback-server helpers."""

from __future__ import annotations

import sys
from pathlib import Path

_SCALEOUT = str(Path(__file__).resolve().parents[1] / "scaleout")
if _SCALEOUT not in sys.path:
    sys.path.insert(0, _SCALEOUT)
