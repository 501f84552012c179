"""Deprecated import path: use :mod:`penguiflow.scaleout.redis_queue` (the names are the same)."""

from __future__ import annotations

import warnings

from .scaleout.redis_queue import *  # noqa: F403
from .scaleout.redis_queue import __all__ as __all__

warnings.warn(
    "penguiflow.redis_queue moved to penguiflow.scaleout.redis_queue; import from there",
    DeprecationWarning,
    stacklevel=2,
)
