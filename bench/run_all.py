"""Run every benchmark and print ratios against baselines measured in the same run."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

BENCHES = ["bench_runtime", "bench_planner", "bench_toolnode", "bench_hitl", "bench_worker"]


def main() -> int:
    results = []
    for name in BENCHES:
        if not (Path(__file__).parent / f"{name}.py").exists():
            continue
        module = importlib.import_module(name)
        outcome = module.main()
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        results.append(outcome is True or outcome == 0)
        print()
    print("all targets met" if all(results) else "some targets missed (see OVER TARGET)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
