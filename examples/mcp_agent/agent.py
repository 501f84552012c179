"""A ReactPlanner using the tools of a local MCP server over stdio, runnable offline.

    python examples/mcp_agent/agent.py                    # scripted LLM, no network
    python examples/mcp_agent/agent.py --test-llm         # TestLLM: calls every tool once
    PENGUIFLOW_MODEL=openai/gpt-4o-mini python examples/mcp_agent/agent.py   # a real model

``ToolNode`` starts ``notes_server.py`` as a subprocess, keeps only the tools the
allowlist names (``delete_note`` stays out of the catalog), and hands the planner one
``NodeSpec`` per tool. Each call is a message through the planner's runtime flow; the
server is stopped (no orphan process) when the ``async with`` block ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner, ScriptedLLM, TestLLM
from penguiflow.tools import ExternalToolConfig, ToolNode

SERVER = Path(__file__).with_name("notes_server.py")


def notes_config() -> ExternalToolConfig:
    return ExternalToolConfig(
        name="notes",
        transport="mcp",
        connection=(sys.executable, str(SERVER)),
        allow=("list_notes", "read_note"),
        timeout_s=10,
    )


def scripted() -> ScriptedLLM:
    """The replies a model would give for the demo question."""
    replies: list[dict[str, Any]] = [
        {"thought": "See which notes exist.", "next_node": "notes.list_notes", "args": {}},
        {
            "thought": "Read the penguin note.",
            "next_node": "notes.read_note",
            "args": {"title": "penguins"},
        },
        {
            "thought": "The note answers the question.",
            "next_node": "final_response",
            "args": {
                "answer": "Emperor penguins huddle in groups of thousands to survive -40 °C "
                "winters.",
                "sources": ["notes.read_note"],
            },
        },
    ]
    return ScriptedLLM([json.dumps(r) for r in replies])


def show(event: PlannerEvent) -> None:
    if event.event_type == "tool_call_start":
        print(f"  -> {event.node_name}")
    elif event.event_type == "tool_call_error":
        print(f"  !! {event.node_name}: {event.error}")


async def run_demo(question: str, *, use_test_llm: bool = False) -> PlannerFinish:
    async with ToolNode(notes_config()) as notes:
        print("tools:", ", ".join(spec.name for spec in notes.specs))
        options: dict[str, Any] = {"catalog": notes.specs, "max_iters": 6, "event_callback": show}
        model = os.environ.get("PENGUIFLOW_MODEL")
        if use_test_llm:
            planner = ReactPlanner(llm_client=TestLLM(notes.specs), **options)
        elif model:
            planner = ReactPlanner(llm=model, **options)
        else:
            planner = ReactPlanner(llm_client=scripted(), **options)
        async with planner:
            result = await planner.run(question)
    if not isinstance(result, PlannerFinish):
        raise SystemExit(f"the run paused unexpectedly: {result.reason}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="ReactPlanner + MCP server demo")
    parser.add_argument("question", nargs="?", default="How do emperor penguins stay warm?")
    parser.add_argument("--test-llm", action="store_true", help="use TestLLM (no script)")
    ns = parser.parse_args()
    print(f"question: {ns.question}")
    result = asyncio.run(run_demo(ns.question, use_test_llm=ns.test_llm))
    print(f"reason: {result.reason}")
    if result.payload is not None:
        print(f"answer: {result.payload.raw_answer}")
    print(f"tool calls: {result.metadata['budgets']['hops']}")


if __name__ == "__main__":
    main()
