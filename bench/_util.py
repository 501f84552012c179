"""Shared helpers for the benchmarks: best-of timing and printing ratios."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


async def best_of(repeats: int, fn: Callable[[], Awaitable[object]]) -> float:
    """Return the fastest wall time of ``repeats`` runs of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


async def compare(
    repeats: int, baseline: Callable[[], Awaitable[object]], ours: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    """Time ``baseline`` and ``ours`` in alternating rounds; return each one's best time.

    Alternating keeps both exposed to the same background load on a shared machine.
    """
    best_base = best_ours = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        await baseline()
        best_base = min(best_base, time.perf_counter() - start)
        start = time.perf_counter()
        await ours()
        best_ours = min(best_ours, time.perf_counter() - start)
    return best_ours, best_base


def report(name: str, ours: float, baseline: float, target: float, unit: str = "s") -> bool:
    """Print one benchmark line and return whether the ratio meets the target."""
    ratio = ours / baseline
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(
        f"{name:<52} penguiflow {ours:.4f}{unit}  baseline {baseline:.4f}{unit}  "
        f"ratio {ratio:.2f}x (target <= {target}x) {verdict}"
    )
    return ratio <= target
