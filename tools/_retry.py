"""Attempts with per-attempt deadlines, retries of retryable errors, and a circuit breaker."""

from __future__ import annotations

import asyncio
import email.utils
import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .config import CircuitBreakerConfig, RetryConfig
from .errors import ToolCircuitOpenError, ToolError, ToolTimeoutError

__all__ = ["BreakerState", "CircuitBreaker", "parse_retry_after", "run_attempts"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class BreakerState(enum.Enum):
    """State of a :class:`CircuitBreaker`."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Fails calls fast after ``failure_threshold`` connection failures in a row.

    After ``reset_after_s`` the breaker lets calls through again (half-open); the first
    failure opens it again, the first success closes it.
    """

    def __init__(
        self,
        config: CircuitBreakerConfig,
        *,
        server: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._server = server
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The current state."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._config.reset_after_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def check(self, tool: str | None = None) -> None:
        """Raise :class:`ToolCircuitOpenError` while the breaker is open."""
        if self.state is BreakerState.OPEN:
            assert self._opened_at is not None
            remaining = self._config.reset_after_s - (self._clock() - self._opened_at)
            raise ToolCircuitOpenError(
                f"the circuit breaker is open after {self._failures} connection failures in a "
                f"row; calls fail fast for {remaining:.1f}s more (circuit_breaker.reset_after_s)",
                tool=tool,
                server=self._server,
                retry_after=max(remaining, 0.0),
                retryable=True,
            )

    def record_failure(self) -> None:
        """Count a connection failure; opens the breaker at the threshold."""
        self._failures += 1
        half_open = self.state is BreakerState.HALF_OPEN
        if half_open or self._failures >= self._config.failure_threshold:
            self._opened_at = self._clock()

    def record_success(self) -> None:
        """Close the breaker."""
        self._failures = 0
        self._opened_at = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


async def run_attempts(
    attempt: Callable[[], Awaitable[T]],
    *,
    tool: str,
    server: str,
    retry: RetryConfig,
    timeout_s: float | None,
    replay_safe: bool,
    breaker: CircuitBreaker,
    deadline: float | None = None,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Run ``attempt`` until it succeeds or fails for good.

    Each attempt runs under ``timeout_s`` (cut to the ``deadline``, a ``time.monotonic()``
    value); a timed-out attempt is cancelled and becomes :class:`ToolTimeoutError`. A
    failure is retried only if it is retryable, attempts remain, and repeating it is safe
    (``error.replay_safe`` or the tool's own ``replay_safe``). Cancellation is never retried.
    The ``breaker`` is only checked here; the adapters record connection outcomes.

    Raises:
        ToolError: the last failure, with ``attempts`` set.
    """
    number = 0
    while True:
        number += 1
        breaker.check(tool)
        limit = timeout_s
        if deadline is not None:
            left = deadline - time.monotonic()
            limit = left if limit is None else min(limit, left)
        try:
            if limit is not None and limit <= 0:
                raise ToolTimeoutError(
                    "the message deadline passed before the call could start",
                    tool=tool,
                    server=server,
                    retryable=False,
                )
            scope = asyncio.timeout(limit)
            try:
                async with scope:
                    result = await attempt()
            except TimeoutError:
                if not scope.expired():
                    raise
                raise ToolTimeoutError(
                    f"no answer within {limit:.3g}s (timeout_s); the attempt was cancelled",
                    tool=tool,
                    server=server,
                ) from None
        except ToolError as exc:
            exc.attempts = number
            wait = _retry_wait(exc, number, retry, replay_safe)
            if wait is None:
                raise
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise
            await sleep(wait)
            continue
        return result


def _retry_wait(exc: ToolError, number: int, retry: RetryConfig, replay_safe: bool) -> float | None:
    if number >= retry.attempts or not exc.retryable:
        return None
    if isinstance(exc, ToolCircuitOpenError):
        return None
    if not (exc.replay_safe or replay_safe):
        return None
    if exc.status is not None and exc.status not in retry.status_codes:
        return None
    wait = retry.backoff_for(number)
    if exc.retry_after is not None and retry.respect_retry_after:
        if exc.retry_after > retry.max_retry_after_s:
            return None
        wait = max(wait, exc.retry_after)
    return wait
