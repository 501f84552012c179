"""Per-node execution policy: validation, timeouts, retries, backoff, concurrency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .backoff import backoff_delay, check_backoff
from .errors import ConfigError

__all__ = ["NodePolicy", "ValidateMode"]

ValidateMode = Literal["both", "in", "out", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePolicy:
    """How the runtime runs one node.

    Attributes:
        validate: which payloads to validate against the ``ModelRegistry``:
            ``"both"``, ``"in"``, ``"out"`` or ``"none"``.
        timeout_s: the most seconds one attempt may take (``None`` for no limit); a
            timed-out attempt is cancelled.
        max_retries: extra attempts after the first one fails or times out.
        backoff_base: seconds to wait before the first retry.
        backoff_mult: factor applied to the wait after each retry.
        max_backoff: the longest wait between retries (``None`` for no cap).
        max_concurrency: how many messages the node processes at once. Messages of one
            trace still pass one at a time, in order.
    """

    validate: ValidateMode = "both"
    timeout_s: float | None = None
    max_retries: int = 0
    backoff_base: float = 0.5
    backoff_mult: float = 2.0
    max_backoff: float | None = None
    max_concurrency: int = 16

    def __post_init__(self) -> None:
        if self.validate not in ("both", "in", "out", "none"):
            raise ConfigError(
                f"NodePolicy.validate must be 'both', 'in', 'out' or 'none', got {self.validate!r}"
            )
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"NodePolicy.timeout_s must be > 0 or None, got {self.timeout_s!r}")
        if self.max_retries < 0:
            raise ConfigError(f"NodePolicy.max_retries must be >= 0, got {self.max_retries!r}")
        check_backoff(
            "NodePolicy",
            backoff_base=self.backoff_base,
            backoff_mult=self.backoff_mult,
            max_backoff=self.max_backoff,
        )
        if self.max_concurrency < 1:
            raise ConfigError(
                f"NodePolicy.max_concurrency must be >= 1, got {self.max_concurrency!r}"
            )

    def backoff_for(self, retry_number: int) -> float:
        """Return the wait before retry ``retry_number`` (1 for the first retry)."""
        return backoff_delay(
            retry_number,
            backoff_base=self.backoff_base,
            backoff_mult=self.backoff_mult,
            max_backoff=self.max_backoff,
        )
