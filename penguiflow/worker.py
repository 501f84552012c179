"""Deprecated import path: use :mod:`penguiflow.scaleout.worker` (the names are the same)."""

from __future__ import annotations

import warnings

from .scaleout.worker import *  # noqa: F403
from .scaleout.worker import __all__ as __all__

warnings.warn(
    "penguiflow.worker moved to penguiflow.scaleout.worker; import from there",
    DeprecationWarning,
    stacklevel=2,
)
