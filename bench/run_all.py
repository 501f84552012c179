"""Run every benchmark and print ratios against baselines measured in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import sys
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).parent))

BENCHES = [
    "bench_runtime",
    "bench_planner",
    "bench_telemetry",
    "bench_agent",
    "bench_toolnode",
    "bench_hitl",
    "bench_worker",
]


class _Tee(io.TextIOBase):
    """Copies what the benchmarks print, so the summary can count missed targets."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.extend(text.splitlines())
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def main() -> int:
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        for name in BENCHES:
            module = importlib.import_module(name)
            outcome = module.main()
            if asyncio.iscoroutine(outcome):
                asyncio.run(outcome)
            print()
    missed = [line for line in tee.lines if "OVER TARGET" in line or "UNDER TARGET" in line]
    checked = [line for line in tee.lines if "target" in line]
    print(f"{len(checked) - len(missed)} of {len(checked)} targets met")
    for line in missed:
        print(f"  missed: {line.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
