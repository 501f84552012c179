"""Old field names of configuration models, still accepted with a ``DeprecationWarning``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["renamed_fields"]


def renamed_fields(data: Any, owner: str, renames: Mapping[str, str]) -> Any:
    """Return ``data`` (a model's raw input) with deprecated field names replaced.

    Args:
        data: the input given to a pydantic model; anything but a mapping passes through.
        owner: the model's name, for the messages.
        renames: old field name -> new field name.

    Raises:
        ValueError: both the old and the new name of a field were given.
    """
    if not isinstance(data, Mapping) or not any(old in data for old in renames):
        return data
    data = dict(data)
    for old, new in renames.items():
        if old not in data:
            continue
        if new in data:
            raise ValueError(f"give {new} only; {old} is its old name")
        warnings.warn(f"{owner}.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
        data[new] = data.pop(old)
    return data
