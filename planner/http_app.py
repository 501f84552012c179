"""Deprecated import path: use :mod:`penguiflow.server` (the names are the same)."""

from __future__ import annotations

import warnings

from ..server.app import *  # noqa: F403
from ..server.app import __all__ as __all__

warnings.warn(
    "penguiflow.planner.http_app moved to penguiflow.server; import from there",
    DeprecationWarning,
    stacklevel=2,
)
