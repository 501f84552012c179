"""Deprecated import path: use :mod:`penguiflow.scaleout.redis_bus` (the names are the same)."""

from __future__ import annotations

import warnings

from .scaleout.redis_bus import *  # noqa: F403
from .scaleout.redis_bus import __all__ as __all__

warnings.warn(
    "penguiflow.redis_bus moved to penguiflow.scaleout.redis_bus; import from there",
    DeprecationWarning,
    stacklevel=2,
)
