"""The files ``penguiflow new`` writes, per template (``react``, ``mcp``, ``hitl``).

``{name}`` (and ``{question}`` in the README) are replaced; nothing else is templated.
"""

from __future__ import annotations

__all__ = ["QUESTIONS", "README", "TEMPLATES"]

README = """\
# {name}

A PenguiFlow agent. Everything runs offline until you choose a model.

```bash
penguiflow run "{question}"      # one question
penguiflow chat                  # a conversation (memory, approvals, Ctrl-C cancels a turn)
python -m pytest -q              # the offline tests
```

Use a real model: set its API key (for example `OPENAI_API_KEY`) and run
`penguiflow chat --model openai/gpt-4o-mini`, or replace `client` by `name` in the
`[model]` table of `agent.toml`. See the PenguiFlow docs (`docs/cli.md`).
"""

_OFFLINE_HEAD = '''\
"""An offline stand-in for a model, so the agent runs without an API key.

A model answers each step with one JSON action: a tool call
{{"next_node": "<tool>", "args": {{...}}}} or the answer
{{"next_node": "final_response", "args": {{"answer": "..."}}}}. This one calls {tool}
with the question, then answers with what the tool returned.
"""

import json

from penguiflow.planner import FunctionLLM


def _reply(messages, response_format):
    last = messages[-1]["content"]
    if last.startswith("Observation"):
        result = json.loads(last.partition("\\n")[2])
        return {{"next_node": "final_response", "args": {{"answer": {answer}}}}}
    query = next(m["content"] for m in messages if m["content"].startswith("Query:"))
    question = query.removeprefix("Query:").strip()
    return {{"next_node": "{tool}", "args": {args}}}


def make_client():
    """The offline client named by agent.toml's [model] client."""
    return FunctionLLM(_reply)
'''

_TEST_HEAD = '''\
"""Offline tests of the agent: no API key and no network needed."""

import asyncio
import sys
from pathlib import Path

from penguiflow import Agent

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from offline import make_client  # noqa: E402


def open_agent(tmp_path):
    """The agent of agent.toml, on the offline client and a throwaway database."""
    store = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    return Agent.from_file(PROJECT / "agent.toml", llm_client=make_client(), store=store)
'''

# -- react: a Python tool ------------------------------------------------------------------

_REACT_CONFIG = """\
# The agent: model, prompt, tools, memory and store. Reference: docs/cli.md.
name = "{name}"
system_prompt = "Be brief. Use the tools for anything you would otherwise guess."

[model]
client = "offline:make_client"       # offline stand-in (offline.py)
# name = "openai/gpt-4o-mini"        # a real model (any LiteLLM string); remove `client`

[[tools]]
type = "python"
path = "tools:text_stats"            # module:function, next to this file
timeout_s = 10

[memory]
strategy = "truncation"              # remember the last turns of a chat session

[store]
url = "sqlite+aiosqlite:///{name}.sqlite3"
"""

_REACT_TOOLS = '''\
"""The agent's tools: typed functions. The model sees each one's name, docstring and
parameters."""

from pydantic import BaseModel

from penguiflow import tool


class TextStats(BaseModel):
    words: int
    characters: int


@tool
async def text_stats(text: str) -> TextStats:
    """Count the words and characters of a text.

    Args:
        text: The text to measure.
    """
    return TextStats(words=len(text.split()), characters=len(text))
'''

_REACT_TEST = (
    _TEST_HEAD
    + """

def test_the_agent_counts_words_offline(tmp_path):
    async def main():
        async with open_agent(tmp_path) as agent:
            return await agent.run("How many words are in this sentence?")

    result = asyncio.run(main())
    assert result.reason == "answer_complete"
    assert result.payload.raw_answer == "That text has 7 words and 36 characters."
"""
)

# -- mcp: an MCP server over stdio ---------------------------------------------------------

_MCP_CONFIG = """\
# The agent: model, prompt, tools, memory and store. Reference: docs/cli.md.
name = "{name}"
system_prompt = "Answer from the notes; say so when they do not cover the question."

[model]
client = "offline:make_client"       # offline stand-in (offline.py)
# name = "openai/gpt-4o-mini"        # a real model (any LiteLLM string); remove `client`

[[tools]]
type = "mcp"
name = "notes"                       # its tools are called notes.<tool>
connection = ["{python}", "server.py"]   # a stdio MCP server, started for you
allow = ["search_notes"]             # deny by default: list what the agent may use
timeout_s = 10

[store]
url = "sqlite+aiosqlite:///{name}.sqlite3"
"""

_MCP_SERVER = '''\
"""A small MCP server (stdio) with one tool. Replace it by your own, or by any MCP server."""

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("notes")

NOTES = {
    "standup": "The daily standup is at 9:30 in room Humboldt.",
    "deploys": "Deploys happen on Tuesdays and Thursdays after 14:00.",
}


@server.tool(description="Search the team notes; returns the notes that match the words.")
def search_notes(query: str) -> list[str]:
    words = {w.strip("?.,!").lower() for w in query.split()}
    return [text for key, text in NOTES.items() if key in words or words & set(text.lower().split())]


if __name__ == "__main__":
    anyio.run(server.run_stdio_async)
'''

_MCP_TEST = (
    _TEST_HEAD
    + """

def test_the_agent_searches_the_mcp_server_offline(tmp_path):
    async def main():
        async with open_agent(tmp_path) as agent:
            return await agent.run("When is the standup?")

    result = asyncio.run(main())
    assert result.reason == "answer_complete"
    assert "9:30" in result.payload.raw_answer
"""
)

# -- hitl: a tool that needs approval --------------------------------------------------------

_HITL_CONFIG = """\
# The agent: model, prompt, tools, memory and store. Reference: docs/cli.md.
name = "{name}"
system_prompt = "You post announcements for the team."

[model]
client = "offline:make_client"       # offline stand-in (offline.py)
# name = "openai/gpt-4o-mini"        # a real model (any LiteLLM string); remove `client`

[[tools]]
type = "python"
path = "tools:post_announcement"     # needs approval: the run pauses before it

[store]
url = "sqlite+aiosqlite:///{name}.sqlite3"   # pauses wait here, for any process
"""

_HITL_TOOLS = '''\
"""A tool that waits for a human: the agent pauses before every call."""

from pydantic import BaseModel

from penguiflow import tool


class Posted(BaseModel):
    posted: str


@tool(side_effects="external", requires_approval=True)
async def post_announcement(text: str) -> Posted:
    """Post an announcement to the whole team.

    Args:
        text: What to announce.
    """
    return Posted(posted=text)
'''

_HITL_TEST = (
    _TEST_HEAD
    + """

def test_the_agent_waits_for_approval_then_posts(tmp_path):
    async def main():
        async with open_agent(tmp_path) as agent:
            paused = await agent.run("Lunch is at noon today")
            assert paused.pending_calls, "the run should wait for approval"
        async with open_agent(tmp_path) as agent:     # later, maybe in another process
            return await agent.resume(paused.resume_token, approve=True)

    result = asyncio.run(main())
    assert result.reason == "answer_complete"
    assert result.payload.raw_answer == "Posted: Lunch is at noon today"
"""
)

QUESTIONS = {
    "react": "How many words are in this sentence?",
    "mcp": "When is the standup?",
    "hitl": "Lunch is at noon today",
}
"""A question each template's offline client answers well."""


def _offline(tool: str, args: str, answer: str) -> str:
    return _OFFLINE_HEAD.format(tool=tool, args=args, answer=answer)


TEMPLATES: dict[str, dict[str, str]] = {
    "react": {
        "agent.toml": _REACT_CONFIG,
        "tools.py": _REACT_TOOLS,
        "offline.py": _offline(
            "text_stats",
            '{"text": question}',
            "f\"That text has {result['words']} words and {result['characters']} characters.\"",
        ),
        "tests/test_agent.py": _REACT_TEST,
    },
    "mcp": {
        "agent.toml": _MCP_CONFIG,
        "server.py": _MCP_SERVER,
        "offline.py": _offline(
            "notes.search_notes",
            '{"query": question}',
            '" ".join(result.get("result", [])) or "The notes do not say."',
        ),
        "tests/test_agent.py": _MCP_TEST,
    },
    "hitl": {
        "agent.toml": _HITL_CONFIG,
        "tools.py": _HITL_TOOLS,
        "offline.py": _offline(
            "post_announcement", '{"text": question}', "f\"Posted: {result['posted']}\""
        ),
        "tests/test_agent.py": _HITL_TEST,
    },
}
"""Template name -> {relative path: text} (``{name}`` is replaced by the project name)."""
