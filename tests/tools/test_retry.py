"""Retry decisions, Retry-After parsing and the circuit breaker."""

import asyncio
import email.utils

import pytest

from penguiflow.tools import CircuitBreakerConfig, RetryConfig
from penguiflow.tools._retry import BreakerState, CircuitBreaker, parse_retry_after, run_attempts
from penguiflow.tools.errors import (
    ToolCircuitOpenError,
    ToolClientError,
    ToolConnectionError,
    ToolServerError,
    ToolTimeoutError,
)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def breaker(threshold=2, reset=10.0, clock=None):
    cfg = CircuitBreakerConfig(failure_threshold=threshold, reset_after_s=reset)
    return CircuitBreaker(cfg, server="srv", clock=clock or Clock())


def test_breaker_opens_half_opens_and_closes():
    clock = Clock()
    b = breaker(clock=clock)
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    with pytest.raises(ToolCircuitOpenError) as info:
        b.check("t")
    assert info.value.retry_after == pytest.approx(10.0) and info.value.server == "srv"
    clock.now += 10
    assert b.state is BreakerState.HALF_OPEN
    b.check("t")  # a trial call goes through
    b.record_failure()  # ...and fails: open again at once
    assert b.state is BreakerState.OPEN
    clock.now += 10
    b.record_success()
    assert b.state is BreakerState.CLOSED


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)


class Script:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "hang":
            await asyncio.sleep(60)
        return outcome


async def run(script, *, safe=False, attempts=3, timeout=None, sleeps=None, **retry):
    waits = [] if sleeps is None else sleeps

    async def sleep(s):
        waits.append(s)

    return await run_attempts(
        script,
        tool="t",
        server="srv",
        retry=RetryConfig(attempts=attempts, backoff_base=0.1, **retry),
        timeout_s=timeout,
        replay_safe=safe,
        breaker=breaker(threshold=100),
        sleep=sleep,
    )


async def test_only_retryable_and_safe_failures_are_retried():
    script = Script(ToolClientError("bad", status=400), "never")
    with pytest.raises(ToolClientError):
        await run(script, safe=True)
    assert script.calls == 1
    script = Script(ToolServerError("down", status=503), "never")
    with pytest.raises(ToolServerError) as info:
        await run(script, safe=False)  # unknown whether it ran: not repeated
    assert script.calls == 1 and info.value.attempts == 1
    waits = []
    script = Script(ToolServerError("down", status=503), ToolConnectionError("x"), "ok")
    assert await run(script, safe=True, sleeps=waits) == "ok"
    assert waits == [0.1, 0.2]
    script = Script(ToolConnectionError("refused", replay_safe=True), "ok")
    assert await run(script, safe=False) == "ok"  # never sent: always safe


async def test_status_codes_and_retry_after_limits():
    script = Script(ToolServerError("x", status=501), "ok")
    with pytest.raises(ToolServerError):
        await run(script, safe=True)  # 501 is not in status_codes
    waits = []
    script = Script(ToolServerError("x", status=503, retry_after=2.0, replay_safe=True), "ok")
    assert await run(script, sleeps=waits) == "ok" and waits == [2.0]
    script = Script(ToolServerError("x", status=503, retry_after=99.0, replay_safe=True), "ok")
    with pytest.raises(ToolServerError):
        await run(script, max_retry_after_s=10)


async def test_timeouts_are_retried_when_safe_and_cancellation_never():
    script = Script("hang", "ok")
    assert await run(script, safe=True, timeout=0.05) == "ok"
    script = Script("hang", "ok")
    with pytest.raises(ToolTimeoutError) as info:
        await run(script, safe=False, timeout=0.05)
    assert info.value.retryable and script.calls == 1
    script = Script(asyncio.CancelledError(), "ok")
    with pytest.raises(asyncio.CancelledError):
        await run(script, safe=True)
    assert script.calls == 1
