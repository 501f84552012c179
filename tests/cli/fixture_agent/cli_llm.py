"""A deterministic stand-in for a model, driven by keywords of the query."""

from __future__ import annotations

import json
import re
from typing import Any

from penguiflow.planner import FunctionLLM

_STEP = re.compile(r"^(Observation|Error) \(step \d+, ([^)]+)\)")


def _call(node: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"thought": f"call {node}", "next_node": node, "args": args}


def _final(answer: str) -> dict[str, Any]:
    return {"thought": "done", "next_node": "final_response", "args": {"answer": answer}}


def _steps(messages: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    found = []
    for message in messages:
        text = str(message.get("content", ""))
        match = _STEP.match(text) if message.get("role") == "user" else None
        if match:
            ok = match.group(1) == "Observation" and "reject" not in text.lower()
            found.append((match.group(2), ok, text.partition("\n")[2] if ok else text))
    return found


def _reply(messages: list[dict[str, Any]], response_format: Any) -> dict[str, Any]:
    query_message = next(m for m in messages if str(m.get("content", "")).startswith("Query:"))
    query = str(query_message["content"]).removeprefix("Query:").strip().split("\n\n")[0]
    lowered = query.lower()
    steps = _steps(messages)
    name = re.search(r"my name is (\w+)", lowered)
    if name:
        return _final(f"Nice to meet you, {name.group(1).title()}.")
    if "what is my name" in lowered:
        context = "\n".join(str(m.get("content", "")) for m in messages if m is not query_message)
        known = re.search(r"my name is (\w+)", context, re.IGNORECASE)
        return _final(f"Your name is {known.group(1).title()}." if known else "I do not know.")
    if "add" in lowered:
        if not steps:
            a, b = (int(n) for n in re.findall(r"-?\d+", query)[:2])
            return _call("add", {"a": a, "b": b})
        return _final(f"The sum is {json.loads(steps[-1][2])['total']}.")
    if "slow" in lowered:
        if not steps:
            return _call("slow", {"seconds": 60})
        return _final("slow finished")
    if "transfer" in lowered:
        if not steps:
            amount = int(re.findall(r"\d+", query)[0])
            return _call("transfer", {"amount": amount, "to": "bob"})
        _tool, ok, body = steps[-1]
        if not ok:
            return _final(f"The transfer was not made. {body}")
        receipt = json.loads(body)
        return _final(f"Transferred {receipt['amount']} to {receipt['to']}.")
    if "colour" in lowered:
        if not steps:
            return _call("ask_color", {})
        body = steps[-1][2]
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            value = body
        return _final(f"Your favourite colour is {value}.")
    return _final(f"You said: {query}")


def make_client() -> FunctionLLM:
    return FunctionLLM(_reply)
