"""Planner overhead per step, against a minimal hand-written ReAct loop in the same run.

An instant scripted LLM drives N tool steps and a final answer. The baseline loop does the
least a ReAct loop must: send the messages, parse the JSON, validate the args with
pydantic, call the function, append the observation. The planner adds the repair ladder,
budgets, token accounting, events and tool execution through the runtime flow.

With ``token_budget`` set, the planner counts every request with tiktoken; the baseline
of that section keeps its requests under the same budget the least costly way: it counts
each message once, with the same encoding, when it is appended.

The native rows do the same with native tool calls: the scripted LLM answers with
``tool_calls``, the minimal native loop decodes each call's arguments, validates them,
calls the function and appends the assistant message and a ``tool`` message with the
call's id; the planner runs with ``tool_mode="native"``.

Times are CPU time of this process (``time.process_time``). The variants run interleaved,
in rounds of 10 runs each; the machine's speed drifts between rounds, so the figure judged
is the median of the rounds' ratios, each between variants measured moments apart (each
variant's best round is printed beside it).

Targets: planner / baseline <= 5x per step (2 tools), in JSON and in native mode;
40 tools / 2 tools <= 1.2x.
Run: ``python bench/bench_planner.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

from penguiflow import ModelRegistry, Node, tool
from penguiflow.memory._encodings import load_encoding
from penguiflow.memory.tokens import DEFAULT_ENCODINGS, MESSAGE_OVERHEAD
from penguiflow.planner import LLMResponse, ReactPlanner, ToolCall


class AddArgs(BaseModel):
    a: int
    b: int


class AddOut(BaseModel):
    total: int


class EchoArgs(BaseModel):
    text: str


class EchoOut(BaseModel):
    text: str


@tool(desc="Add two integers")
async def add(args: AddArgs, ctx: Any) -> AddOut:
    return AddOut(total=args.a + args.b)


@tool(desc="Echo a text")
async def echo(args: EchoArgs, ctx: Any) -> EchoOut:
    return EchoOut(text=args.text)


class InstantLLM:
    """Replies from a fixed script instantly (cycling), like a zero-latency provider."""

    model = "bench-instant"

    def __init__(self, replies: list[Any]) -> None:
        self._replies = replies
        self._i = 0

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: Any = None,
        stream: bool = False,
        on_stream_chunk: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
    ) -> Any:
        reply = self._replies[self._i % len(self._replies)]
        self._i += 1
        return reply


def script(steps: int) -> list[str]:
    replies = []
    for i in range(steps):
        if i % 2:
            replies.append(
                json.dumps({"thought": "add", "next_node": "add", "args": {"a": i, "b": 1}})
            )
        else:
            replies.append(
                json.dumps({"thought": "echo", "next_node": "echo", "args": {"text": f"step {i}"}})
            )
    replies.append(
        json.dumps(
            {"thought": "done", "next_node": "final_response", "args": {"answer": "finished"}}
        )
    )
    return replies


def native_script(steps: int) -> list[LLMResponse]:
    """The same run as :func:`script`, as native tool calls (one call per reply)."""
    replies = []
    for i in range(steps):
        if i % 2:
            call = ToolCall(f"call_{i}", "add", json.dumps({"a": i, "b": 1}))
        else:
            call = ToolCall(f"call_{i}", "echo", json.dumps({"text": f"step {i}"}))
        replies.append(LLMResponse("", tool_calls=(call,)))
    replies.append(LLMResponse("finished"))
    return replies


def catalog(extra_tools: int) -> tuple[list[Node], ModelRegistry]:
    registry = ModelRegistry()
    nodes = [Node(add, name="add"), Node(echo, name="echo")]
    registry.register("add", AddArgs, AddOut)
    registry.register("echo", EchoArgs, EchoOut)
    for i in range(extra_tools):
        args_model = create_model(
            f"Extra{i}Args", query=(str, ...), limit=(int, 10), flag=(bool, False)
        )

        async def extra(args: Any, ctx: Any) -> EchoOut:
            return EchoOut(text="x")

        extra.__penguiflow_tool__ = None  # type: ignore[attr-defined]
        del extra.__penguiflow_tool__
        tool(desc=f"Extra tool number {i}: looks things up in store {i}")(extra)
        name = f"extra_{i}"
        nodes.append(Node(extra, name=name))
        registry.register(name, args_model, EchoOut)
    return nodes, registry


def token_counter() -> Callable[[str], int]:
    """Tokens of one message's text plus its framing, with the planner's encoding."""
    encoding = load_encoding(DEFAULT_ENCODINGS[0], allow_download=False)
    if encoding is None:
        raise SystemExit(f"the {DEFAULT_ENCODINGS[0]} encoding cannot be loaded here")
    encode = encoding.encode_ordinary
    return lambda text: len(encode(text)) + MESSAGE_OVERHEAD


async def baseline_run(
    llm: InstantLLM,
    steps: int,
    count: Callable[[str], int] | None = None,
    token_budget: int | None = None,
) -> None:
    tools: dict[str, tuple[type[BaseModel], Any]] = {
        "add": (AddArgs, add),
        "echo": (EchoArgs, echo),
    }
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "tools"},
        {"role": "user", "content": "go"},
    ]
    tokens = 0 if count is None else sum(count(m["content"]) for m in messages)
    for _ in range(steps + 1):
        if token_budget is not None and tokens > token_budget:
            raise RuntimeError("over the token budget")
        text = await llm.complete(messages=messages)
        action = json.loads(text)
        if action["next_node"] == "final_response":
            return
        model, fn = tools[action["next_node"]]
        result = await fn(model.model_validate(action["args"]), None)
        observation = json.dumps(result.model_dump())
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": observation})
        if count is not None:
            tokens += count(text) + count(observation)
    raise RuntimeError("baseline did not finish")


async def baseline_native_run(llm: InstantLLM, steps: int) -> None:
    tools: dict[str, tuple[type[BaseModel], Any]] = {
        "add": (AddArgs, add),
        "echo": (EchoArgs, echo),
    }
    definitions = [{"type": "function", "function": {"name": name}} for name in tools]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "tools"},
        {"role": "user", "content": "go"},
    ]
    for _ in range(steps + 1):
        reply = await llm.complete(messages=messages, tools=definitions)
        if not reply.tool_calls:
            return
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call.to_message() for call in reply.tool_calls],
            }
        )
        for call in reply.tool_calls:
            model, fn = tools[call.name]
            result = await fn(model.model_validate(json.loads(call.arguments)), None)
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": json.dumps(result.model_dump()),
                }
            )
    raise RuntimeError("native baseline did not finish")


RUNS_PER_ROUND = 10


async def measure(
    steps: int, repeats: int, token_budget: int | None
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Time every variant in turn, ``repeats`` rounds of ``RUNS_PER_ROUND`` runs each.

    Returns each variant's best round (CPU seconds per step) and, per round, the ratios
    of the planners to the baseline measured moments before.
    """
    replies = script(steps)
    baseline_llm = InstantLLM(replies)
    count = None if token_budget is None else token_counter()
    runners: dict[str, Any] = {
        "baseline": lambda: baseline_run(baseline_llm, steps, count, token_budget)
    }
    native_replies = native_script(steps)
    if token_budget is None:
        native_llm = InstantLLM(native_replies)
        runners["baseline_native"] = lambda: baseline_native_run(native_llm, steps)
    planners = []
    variants = [("planner_2_tools", 0, "json"), ("planner_40_tools", 38, "json")]
    if token_budget is None:
        variants.append(("planner_native", 0, "native"))
    for label, extra, mode in variants:
        nodes, registry = catalog(extra)
        planner = ReactPlanner(
            llm_client=InstantLLM(native_replies if mode == "native" else replies),
            nodes=nodes,
            registry=registry,
            max_iters=steps + 2,
            token_budget=token_budget,
            tool_mode=mode,  # type: ignore[arg-type]
        )
        planners.append(planner)
        runners[label] = lambda p=planner: p.run("go")
    try:
        for run in runners.values():  # warm up: starts the flows, loads the tokenizer
            result = await run()
            if result is not None and result.reason != "answer_complete":
                raise RuntimeError(f"a planner did not finish: {result.reason}")
        best = {label: float("inf") for label in runners}
        paired: dict[str, list[float]] = {"overhead": [], "scaling": [], "native": []}
        for _ in range(repeats):
            this_round: dict[str, float] = {}
            for label, run in runners.items():
                started = time.process_time()
                for _ in range(RUNS_PER_ROUND):
                    await run()
                elapsed = (time.process_time() - started) / (RUNS_PER_ROUND * (steps + 1))
                this_round[label] = elapsed
                best[label] = min(best[label], elapsed)
            paired["overhead"].append(this_round["planner_2_tools"] / this_round["baseline"])
            paired["scaling"].append(this_round["planner_40_tools"] / this_round["planner_2_tools"])
            if "planner_native" in this_round:
                paired["native"].append(
                    this_round["planner_native"] / this_round["baseline_native"]
                )
        return best, paired
    finally:
        for planner in planners:
            await planner.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    ns = parser.parse_args()
    repeats = 3 if ns.quick else ns.repeats
    for budget in (None, 1_000_000):
        best, paired = asyncio.run(measure(ns.steps, repeats, budget))
        overhead = statistics.median(paired["overhead"])
        scaling = statistics.median(paired["scaling"])
        title = (
            "no token_budget"
            if budget is None
            else "token_budget set: both count tokens with tiktoken"
        )
        print(
            f"-- {title}, {ns.steps} tool steps + final answer, {repeats} rounds of "
            f"{RUNS_PER_ROUND} runs"
        )
        for label, value in best.items():
            print(f"{label:>18}: {value * 1e6:9.1f} us/step (best round)")
        best_overhead = best["planner_2_tools"] / best["baseline"]
        print(
            f"planner overhead per step vs minimal ReAct loop: {overhead:.2f}x, median of the "
            f"rounds (target <= 5x) {'ok' if overhead <= 5 else 'OVER TARGET'}; "
            f"best rounds {best_overhead:.2f}x"
        )
        print(
            f"40 tools vs 2 tools per step: {scaling:.2f}x, median of the rounds "
            f"(target <= 1.2x) {'ok' if scaling <= 1.2 else 'OVER TARGET'}"
        )
        if paired["native"]:
            native = statistics.median(paired["native"])
            print(
                f"native tool calls, planner vs minimal native loop per step: {native:.2f}x, "
                f"median of the rounds (target <= 5x) {'ok' if native <= 5 else 'OVER TARGET'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
