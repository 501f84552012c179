"""A seeded generator of hostile model replies, and a harness that drives planners with them.

Every reply is built from a ``random.Random`` seeded per run and per reply, so a failing
run can be replayed from its seed. Replies never carry a final answer other than
:data:`ANSWER`: a run that finishes with any other answer took garbage for an answer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner.llm_types import LLMResponse, ToolCall
from penguiflow.planner.pause import PlannerPause
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.run_state import PlannerFinish
from penguiflow.planner.testing import FunctionLLM

ANSWER = "The answer is 42."
"""The only answer any scripted reply gives."""

Reply = str | LLMResponse


class Query(BaseModel):
    text: str
    limit: int = 3


class Found(BaseModel):
    value: str


class Blob(BaseModel):
    data: Any = None


class Typed(BaseModel):
    answer: str


@tool(desc="Search")
async def search(args: Query, ctx: Any) -> Found:
    return Found(value=f"{args.text[:50]}:{args.limit}")


@tool(desc="Echo any JSON back")
async def echo(args: Blob, ctx: Any) -> Blob:
    return args


def tools() -> tuple[list[Node], ModelRegistry]:
    registry = ModelRegistry()
    registry.register("search", Query, Found)
    registry.register("echo", Blob, Blob)
    return [Node(search, name="search"), Node(echo, name="echo")], registry


# -- JSON fragments ------------------------------------------------------------------------


def _nested(rng: random.Random) -> str:
    depth = rng.choice([20, 40, 150, 900, 3000, 20_000])
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _huge_int(rng: random.Random) -> str:
    return rng.choice(["", "-"]) + "9" * rng.choice([4301, 5000, 20_000])


def _huge_string(rng: random.Random) -> str:
    size = rng.choice([10_000, 150_000, 1_200_000])
    return json.dumps(rng.choice("xé€😀") * size, ensure_ascii=rng.random() < 0.5)


def _surrogate(rng: random.Random) -> str:
    return rng.choice(['"\\ud800"', '"a\\udfff b"', '"split \\ud83d"', '"\ud800raw"', '"ok"'])


def _non_finite(rng: random.Random) -> str:
    return rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "[NaN, Infinity]"])


def _wrong_type(rng: random.Random) -> str:
    return rng.choice(["null", "true", "[]", "{}", '"text"', "3.5", "[1, [2]]", '{"x": null}'])


def _not_text(rng: random.Random) -> str:
    """A hostile JSON value that is not a string (so never an answer)."""
    make = rng.choice([_nested, _huge_int, _non_finite])
    return make(rng)


def _value(rng: random.Random) -> str:
    """A hostile JSON value."""
    make = rng.choice([_nested, _huge_int, _huge_string, _surrogate, _non_finite, _wrong_type])
    return make(rng)


def _name(rng: random.Random) -> str:
    return rng.choice(
        ["search", "echo", "nope", "", " ", "final_response", "parallel", "s" * 5000, "séarch"]
    )


def _action(node: str, args: str, thought: str = '"t"') -> str:
    return f'{{"thought": {thought}, "next_node": {node}, "args": {args}}}'


def _final(thought: str = '"t"', extra: str = "") -> str:
    return _action('"final_response"', f'{{"answer": {json.dumps(ANSWER)}{extra}}}', thought)


def _truncated(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(1, len(text))]


# -- JSON-mode replies -----------------------------------------------------------------------


def _json_reply(rng: random.Random) -> str:
    kind = rng.randrange(14)
    value = _value(rng)
    if kind == 0:
        return value  # a bare value: deep, huge, a surrogate, NaN, a wrong type
    if kind == 1:
        return _action('"search"', f'{{"text": {value}, "limit": {_value(rng)}}}')
    if kind == 2:
        return _action('"echo"', f'{{"data": {value}}}', thought=_value(rng))
    if kind == 3:
        return _final(extra=f', "sources": {value}, "confidence": {_non_finite(rng)}')
    if kind == 4:
        return _final(thought=value)
    if kind == 5:  # duplicate keys: the last one wins, never an answer
        return (
            '{"next_node": "final_response", "next_node": "search", '
            f'"args": {{"answer": {json.dumps(ANSWER)}}}, "args": {{"text": {value}}}}}'
        )
    if kind == 6:
        return _action(_value(rng), f'{{"text": {value}}}')
    if kind == 7:
        return _action(json.dumps(_name(rng)), f'{{"text": {_surrogate(rng)}}}')
    if kind == 8:
        whole = _action('"echo"', f'{{"data": {json.dumps({"k": [1, 2, {"z": None}]})}}}')
        return _truncated(rng, rng.choice([whole, _final()]))
    if kind == 9:
        count = rng.choice([1_000, 3_000])
        node = rng.choice(['"search"', '"nope"', '"echo"'])
        steps = ", ".join([f'{{"node": {node}, "args": {{"text": "q{i}"}}}}' for i in range(count)])
        return _action('"parallel"', f'{{"steps": [{steps}], "join": {_wrong_type(rng)}}}')
    if kind == 10:
        return f"Here it is:\n```json\n{_action(chr(34) + 'echo' + chr(34), value)}\n```"
    if kind == 11:
        depth = rng.choice([50, 199, 250, 3000])
        return "{'next_node': 'echo', 'args': {'data': " + "(" * depth + ")" * depth + "}}"
    if kind == 12:
        return rng.choice(["", "   ", "\x00", "{", "}", '"', "\\", "null", "```", "\udcff"])
    return _action('"parallel"', f'{{"steps": {value}}}')


# -- native replies ---------------------------------------------------------------------------


def _arguments(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return _value(rng)
    if kind == 1:
        return f'{{"text": {_value(rng)}, "data": {_value(rng)}}}'
    if kind == 2:
        return _truncated(rng, json.dumps({"text": "abc", "data": [1, 2, 3]}))
    if kind == 3:
        return rng.choice(["not json", "{'text': 'py'}", "```{}```", "{,}", "\ud800", ""])
    if kind == 4:
        return '{"text": "a", "text": 5, "data": {"k": 1, "k": [NaN]}}'
    return f'{{"data": {_nested(rng)}}}'


def _native_reply(rng: random.Random, *, typed: bool) -> Reply:
    kind = rng.randrange(6)
    text = rng.choice(["", "thinking", _surrogate(rng), _value(rng)]) if rng.random() < 0.3 else ""
    if kind == 5 and typed:  # text only: a typed answer must come as JSON that fits
        return LLMResponse(rng.choice([_value(rng), '{"answer": 5}', _final(), "plain words"]))
    if kind == 4:
        count = rng.choice([1_000, 3_000])
        name = rng.choice(["search", "nope"])
        calls = tuple(ToolCall(f"c{i}", name, f'{{"text": "q{i}"}}') for i in range(count))
        return LLMResponse(text, tool_calls=calls)
    if kind == 3 and typed:
        args = rng.choice(['{"answer": 5}', _arguments(rng), f'{{"answer": {_not_text(rng)}}}'])
        return LLMResponse(text, tool_calls=(ToolCall("f1", "final_response", args),))
    calls = tuple(
        ToolCall(f"c{i}", _name(rng), _arguments(rng)) for i in range(rng.choice([1, 1, 2, 5]))
    )
    return LLMResponse(text, tool_calls=calls)


def _native_answer(typed: bool) -> Reply:
    if typed:
        return LLMResponse("", tool_calls=(ToolCall("fin", "final_response", _final_args()),))
    return LLMResponse(ANSWER)


def _final_args() -> str:
    return json.dumps({"answer": ANSWER})


# -- the harness -------------------------------------------------------------------------------


@dataclass
class Figures:
    """What a fuzz campaign did and how its runs ended."""

    runs: int = 0
    replies: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    raised: list[str] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)


@dataclass
class _Script:
    seed: int
    native: bool
    typed: bool
    hostile: int
    answers: bool
    served: int = 0


class HostileLLM:
    """Serves each run's hostile replies (found by the run's query), then the answer."""

    def __init__(self, figures: Figures, *, native: bool) -> None:
        self.scripts: dict[str, _Script] = {}
        self.figures = figures
        self.client = FunctionLLM(self._reply, tool_calling=native)

    def _reply(self, messages: list[dict[str, Any]], response_format: Any, tools: Any) -> Reply:
        query = next(
            m["content"] for m in messages if str(m.get("content", "")).startswith("Query:")
        )
        script = self.scripts[query.removeprefix("Query:\n")]
        index = script.served
        script.served += 1
        self.figures.replies += 1
        if index >= script.hostile and script.answers:
            return _native_answer(script.typed) if script.native else _final()
        rng = random.Random(f"{script.seed}:{index}")
        if script.native:
            return _native_reply(rng, typed=script.typed)
        return _json_reply(rng)


PLANNER_SETTINGS: list[dict[str, Any]] = [
    {},
    {"max_reply_chars": 100_000, "max_reply_depth": 16, "stream_final_response": True},
]


async def campaign(seed: int, runs: int, *, timeout_s: float = 20.0) -> Figures:
    """Drive ``runs`` planner runs (both tool modes, typed and plain answers)."""
    figures = Figures()
    planners: list[tuple[ReactPlanner, HostileLLM, bool, bool]] = []
    for native in (False, True):
        for typed, settings in zip((False, True), PLANNER_SETTINGS, strict=True):
            llm = HostileLLM(figures, native=native)
            nodes, registry = tools()
            planner = ReactPlanner(
                llm_client=llm.client,
                nodes=nodes,
                registry=registry,
                tool_mode="native" if native else "json",
                repair_attempts=2,
                max_iters=5,
                final_response_model=Typed if typed else None,
                **settings,
            )
            planners.append((planner, llm, native, typed))
    rng = random.Random(seed)
    try:
        for number in range(runs):
            planner, llm, native, typed = planners[number % len(planners)]
            run_id = f"run-{seed}-{number}"
            llm.scripts[run_id] = _Script(
                seed=rng.randrange(2**32),
                native=native,
                typed=typed,
                hostile=rng.choice([1, 1, 2, 3]),
                answers=rng.random() < 0.8,
            )
            await _one(planner, run_id, figures, timeout_s)
            llm.client.requests.clear()
            del llm.scripts[run_id]
    finally:
        for planner, *_ in planners:
            await planner.aclose()
    return figures


async def _one(planner: ReactPlanner, run_id: str, figures: Figures, timeout_s: float) -> None:
    figures.runs += 1
    try:
        async with asyncio.timeout(timeout_s):
            result = await planner.run(run_id, run_id=run_id)
    except TimeoutError:
        figures.hangs.append(figures.runs)
        return
    except Exception as exc:  # any exception is what the campaign counts
        figures.raised.append(f"{run_id}: {type(exc).__name__}: {str(exc)[:200]}")
        return
    if isinstance(result, PlannerPause):
        figures.outcomes["pause"] += 1
        return
    assert isinstance(result, PlannerFinish)
    figures.outcomes[result.reason] += 1
    if result.reason == "answer_complete" and result.payload.raw_answer != ANSWER:
        figures.garbage.append(f"{run_id}: {result.payload.raw_answer!r:.200}")
