"""A two-tool agent sized for small models served on this machine.

    python examples/local_model/agent.py                  # offline test model, no server
    python examples/local_model/agent.py --api-base http://127.0.0.1:8080/v1 \\
        --model openai/my-model "What is 17*23?"          # a local OpenAI-compatible server
    python examples/local_model/agent.py --api-base ... --tool-mode native --tool-choice calculate

The tools bound their string arguments (``max_length``), and the client sets
``max_tokens``: a server that decodes under the request's JSON schema (llama.cpp, vLLM,
Ollama, LM Studio) then always closes its reply before the limit. See
docs/local-models.md.
"""

from __future__ import annotations

import argparse
import ast
import operator
from typing import Annotated, Any

from pydantic import Field

from penguiflow import Agent, tool
from penguiflow.planner.testing import TestLLM

CAPITALS = {"france": "Paris", "germany": "Berlin", "japan": "Tokyo", "peru": "Lima"}
_OPERATORS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponents above 64 are not supported")
        return float(_OPERATORS[type(node.op)](left, right))
    raise ValueError(f"not arithmetic: {ast.unparse(node)!r}; use numbers and + - * / ** ( )")


@tool
async def calculate(
    expression: Annotated[str, Field(max_length=60, description="e.g. (17 + 3) * 23")],
) -> float:
    """Evaluate an arithmetic expression."""
    try:
        return _evaluate(ast.parse(expression, mode="eval").body)
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc


@tool
async def capital(country: Annotated[str, Field(max_length=40)]) -> str:
    """The capital city of a country."""
    return CAPITALS.get(country.strip().lower(), f"unknown: {country}")


def build_agent(
    model: str = "test",
    *,
    api_base: str | None = None,
    max_tokens: int = 256,
    timeout_s: float = 120.0,
    max_retries: int = 2,
    **options: Any,
) -> Agent:
    """The agent, on the offline test model or on a server at ``api_base``.

    Args:
        model: ``"test"`` (offline) or a LiteLLM model string (``openai/<name>`` for an
            OpenAI-compatible server).
        api_base: the server's ``/v1`` URL.
        max_tokens: the reply limit sent to the server.
        timeout_s: seconds per request (a CPU server may take a while).
        max_retries: retries of a failed request (a timed-out one is not retried).
        **options: other Agent options (``tool_mode``, ``tool_choice``, ``max_iters``...).
    """
    options.setdefault("max_iters", 4)
    tools = [calculate, capital]
    if model == "test":  # offline: call each tool once with these arguments, then answer
        offline = TestLLM(args={"calculate": {"expression": "17*23"}}, final_answer="391")
        return Agent(llm_client=offline, tools=tools, **options)
    spec: Any = model
    if api_base is not None:
        spec = {
            "model": model,
            "api_base": api_base,
            "api_key": "local",  # most local servers ignore it; litellm wants one
            "max_tokens": max_tokens,
            "timeout_s": timeout_s,
            "max_retries": max_retries,
        }
    return Agent(spec, tools=tools, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What is 17*23?")
    parser.add_argument("--model", default="test")
    parser.add_argument("--api-base")
    parser.add_argument("--tool-mode", default="auto", choices=["auto", "json", "native"])
    parser.add_argument("--tool-choice", help="in native mode, the tool to call first")
    ns = parser.parse_args()
    agent = build_agent(
        ns.model, api_base=ns.api_base, tool_mode=ns.tool_mode, tool_choice=ns.tool_choice
    )
    result = agent.run_sync(ns.question)
    print(f"{result.reason}: {result.payload.raw_answer if result.payload else ''}")


if __name__ == "__main__":
    main()
