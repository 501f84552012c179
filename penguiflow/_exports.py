"""A package root's ``__getattr__``: names loaded on first use, and names that moved out.

Each package root exports what users write (its ``__all__``). Names it used to export
that are now imported from their own modules still resolve from the root, with a
``DeprecationWarning`` naming the module to import them from.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["root_getattr"]


def root_getattr(
    package: str,
    *,
    lazy: Mapping[str, str] | None = None,
    moved: Mapping[str, str] | None = None,
) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` for the package root ``package``.

    Args:
        package: the package's ``__name__``.
        lazy: public names loaded on first access (name -> absolute module).
        moved: names no longer exported by the root (name -> absolute module).
    """
    lazy = dict(lazy or {})
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name]), name)
            sys.modules[package].__dict__[name] = value
            return value
        if name in moved:
            warnings.warn(
                f"importing {name} from {package} is deprecated; import it from {moved[name]}",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(moved[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
