"""The two-tool example agent: peak memory of a whole run, and prompt tokens per step.

1. **Peak memory.** ``examples/local_model/agent.py`` (two tools, the offline test model,
   no token budget, no memory) runs in a fresh process; its peak resident set size is
   read with ``resource.getrusage(RUSAGE_CHILDREN)`` in a parent that runs nothing else.
   Target: <= 80 MiB. Nothing in such a run counts tokens, so no tokenizer encoding
   (about 80 MiB each) may be loaded.
2. **Prompt tokens per step**, in JSON mode and in native mode: the same agent answers
   "What is 17*23?" by calling each tool once, then answering. Each request is counted
   with ``o200k_base``: its messages (OpenAI's chat framing) plus what goes beside them,
   the ``response_format`` in JSON mode or the ``tools`` in native mode. Printed without
   a target; a provider's own tokenizer gives other numbers (a local Gemma server counted
   340 prompt tokens for the JSON-mode first step).

Run: ``python bench/bench_agent.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from penguiflow.memory.tokens import TokenCounter
from penguiflow.planner.testing import TestLLM

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "local_model" / "agent.py"
PEAK_TARGET_MIB = 80.0

_MEASURE_CHILD = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True)
if done.returncode != 0:
    sys.exit(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mib() -> float:
    """Peak RSS of one run of the example, in MiB (Linux reports ru_maxrss in KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_CHILD, str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(done.stdout.strip()) / 1024


class Recorder:
    """Answers like TestLLM and keeps every request (messages, format, tools)."""

    model = "bench-recorder"

    def __init__(self) -> None:
        self._inner = TestLLM(args={"calculate": {"expression": "17*23"}}, final_answer="391")
        self.tool_calling = True
        self.requests: list[dict[str, Any]] = []

    async def complete(self, **request: Any) -> Any:
        self.requests.append(request)
        return await self._inner.complete(**request)


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("local_model_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def prompt_tokens(mode: str) -> list[int]:
    """Prompt tokens of each request of one run of the example in ``mode``."""
    example = _load_example()
    recorder = Recorder()
    agent = example.Agent(
        llm_client=recorder, tools=[example.calculate, example.capital], tool_mode=mode
    )
    async with agent:
        result = await agent.run("What is 17*23?")
    if result.reason != "answer_complete":
        raise RuntimeError(f"the example did not answer in {mode} mode: {result.reason}")
    counter = TokenCounter("gpt-4o")
    counts = []
    for request in recorder.requests:
        beside = request.get("tools") or request.get("response_format")
        extra = counter.count(json.dumps(beside, separators=(",", ":"))) if beside else 0
        counts.append(counter.count_messages(request["messages"]) + extra)
    return counts


def main() -> int:
    peak = peak_rss_mib()
    verdict = "ok" if peak <= PEAK_TARGET_MIB else "OVER TARGET"
    print(
        f"{'peak memory, 2-tool example agent, no budgets':<52} {peak:.1f} MiB "
        f"(target <= {PEAK_TARGET_MIB:.0f} MiB) {verdict}"
    )
    for mode in ("json", "native"):
        counts = asyncio.run(prompt_tokens(mode))
        print(
            f"{'prompt tokens per step (o200k), ' + mode + ' mode':<52} "
            f"{', '.join(map(str, counts))} (first step, then one per tool result)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
