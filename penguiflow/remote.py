"""Deprecated import path: use :mod:`penguiflow.scaleout.remote` (the names are the same)."""

from __future__ import annotations

import warnings

from .scaleout.remote import *  # noqa: F403
from .scaleout.remote import __all__ as __all__

warnings.warn(
    "penguiflow.remote moved to penguiflow.scaleout.remote; import from there",
    DeprecationWarning,
    stacklevel=2,
)
