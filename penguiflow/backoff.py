"""Exponential backoff: how long to wait before a retry. One helper for every retry loop.

Node retries, queued jobs, HTTP and MCP tools, LLM calls and the memory summariser all
describe their waits with the same three settings (seconds):

- ``backoff_base``: the wait before the first retry;
- ``backoff_mult``: the factor applied to the wait after each retry (``>= 1``);
- ``max_backoff``: the longest wait (``None`` for no cap).

Retries are numbered from 1 (the first retry) everywhere.
"""

from __future__ import annotations

import math
import random

from .errors import ConfigError

__all__ = ["backoff_delay", "check_backoff"]


def backoff_delay(
    retry: int,
    *,
    backoff_base: float,
    backoff_mult: float = 2.0,
    max_backoff: float | None = None,
    jitter: float = 0.0,
) -> float:
    """Return the seconds to wait before retry number ``retry`` (1 for the first retry).

    The wait is ``backoff_base * backoff_mult ** (retry - 1)``, capped at ``max_backoff``.
    With ``jitter`` (0 to 1) it is then scaled by a random factor between ``1 - jitter``
    and 1, so that many clients retrying together spread out.

    Args:
        retry: which retry this is, from 1.
        backoff_base: the wait before the first retry.
        backoff_mult: the growth factor per retry.
        max_backoff: the longest wait, or ``None`` for no cap.
        jitter: the fraction of the wait that is random.
    """
    delay = backoff_base * backoff_mult ** max(retry - 1, 0)
    if max_backoff is not None:
        delay = min(delay, max_backoff)
    if jitter:
        delay *= 1.0 - jitter * random.random()  # spreading retries out, not crypto
    return float(delay)


def check_backoff(
    owner: str,
    *,
    backoff_base: float,
    backoff_mult: float = 2.0,
    max_backoff: float | None = None,
) -> None:
    """Raise ``ConfigError`` naming ``owner`` and the field when a setting is out of range.

    Args:
        owner: the class or function whose settings these are (for the message).
        backoff_base: must be a finite number ``>= 0``.
        backoff_mult: must be a finite number ``>= 1``.
        max_backoff: ``None``, or a finite number ``>= 0``.

    Raises:
        ConfigError: a setting is out of range.
    """
    _check(owner, "backoff_base", backoff_base, minimum=0.0)
    _check(owner, "backoff_mult", backoff_mult, minimum=1.0)
    if max_backoff is not None:
        _check(owner, "max_backoff", max_backoff, minimum=0.0, none_ok=True)


def _check(owner: str, name: str, value: object, *, minimum: float, none_ok: bool = False) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= minimum
    )
    if not ok:
        rule = f"a finite number >= {minimum:g}" + (" or None" if none_ok else "")
        raise ConfigError(f"{owner}.{name} must be {rule}, got {value!r}")
