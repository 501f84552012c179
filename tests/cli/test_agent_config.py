"""The agent config file: loading, defaults, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from penguiflow.errors import ConfigError
from penguiflow.memory import ShortTermMemoryConfig
from penguiflow.planner.agent import Agent
from penguiflow.planner.agent_config import (
    AgentConfig,
    PythonToolEntry,
    find_agent_config,
    load_agent_config,
)
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.tools import ExternalToolConfig

FULL = """
name = "shop"
system_prompt = "Be brief."
tenant = "acme"

[model]
name = "openai/gpt-4o-mini"
temperature = 0.2
params = { max_tokens = 300 }

[planner]
max_iters = 5
deadline_s = 30

[[tools]]
type = "python"
path = "tools:get_weather"
timeout_s = 5

[[tools]]
type = "mcp"
name = "files"
connection = ["{python}", "server.py"]
allow = ["read_*"]
require_approval = ["write_*"]

[[tools]]
type = "http"
name = "api"
base_url = "https://api.example.com/v1"
allow = ["*"]

[[tools.operations]]
name = "get_item"
method = "GET"
path = "/items/{item_id}"
args_schema = { type = "object", properties = { item_id = { type = "string" } } }

[memory]
strategy = "rolling_summary"
budget = { full_zone_turns = 3, total_max_tokens = 2000 }

[store]
url = "sqlite+aiosqlite:///agent.sqlite3"
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_config_loads_every_section(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, FULL))
    assert config.name == "shop" and config.tenant == "acme"
    assert config.model.name == "openai/gpt-4o-mini" and config.model.params == {"max_tokens": 300}
    assert config.planner.max_iters == 5 and config.planner.deadline_s == 30
    python, mcp, http = config.tools
    assert isinstance(python, PythonToolEntry) and python.timeout_s == 5
    assert isinstance(mcp, ExternalToolConfig) and mcp.transport == "mcp"
    assert mcp.require_approval == ("write_*",)
    assert isinstance(http, ExternalToolConfig) and http.operations[0].name == "get_item"
    assert isinstance(config.memory, ShortTermMemoryConfig)
    assert config.memory.strategy == "rolling_summary"
    assert config.memory.budget.full_zone_turns == 3
    assert config.store_url() == "sqlite+aiosqlite:///agent.sqlite3"
    assert config.base_dir == tmp_path.resolve()


def test_yaml_is_accepted(tmp_path: Path) -> None:
    text = "name: y\nmodel:\n  name: openai/gpt-4o\ntools:\n  - type: python\n    path: t:f\n"
    config = load_agent_config(write(tmp_path, text, "agent.yaml"))
    assert config.name == "y" and config.tools[0].path == "t:f"


def test_defaults_memory_on_and_store_in_the_working_directory(monkeypatch) -> None:
    monkeypatch.delenv("PENGUIFLOW_STORE_URL", raising=False)
    config = AgentConfig.from_dict({})
    assert config.memory.strategy == "truncation"
    assert config.store_url() == "sqlite+aiosqlite:///penguiflow.sqlite3"
    monkeypatch.setenv("PENGUIFLOW_STORE_URL", "sqlite+aiosqlite:///env.sqlite3")
    assert config.store_url() == "sqlite+aiosqlite:///env.sqlite3"
    assert config.store_url("sqlite+aiosqlite:///flag.sqlite3").endswith("flag.sqlite3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[model]\nnmae = 'x'\n", ["agent.toml", "model.nmae", "unknown setting"]),
        ("[planner]\nmax_iters = 0\n", ["planner.max_iters", "greater than or equal to 1"]),
        ("[[tools]]\npath = 'a:b'\n", ["tools[0]", 'add type = "python"']),
        ("[[tools]]\ntype = 'python'\n", ["tools[0]", "path: required; add it"]),
        ("[[tools]]\ntype = 'python'\npath = 'nocolon'\n", ["tools[0]", "module:attribute"]),
        ("[[tools]]\ntype = 'grpc'\n", ["tools[0]", "'grpc'"]),
        ("[[tools]]\ntype = 'mcp'\nname = 'x'\n", ["tools[0] (mcp)", "connection"]),
        ("[memory]\nstrategy = 'forever'\n", ["memory.strategy", "truncation"]),
        ("[memory]\nbudget = { full_zone_turns = 0 }\n", ["memory", "full_zone_turns"]),
        ("tenant = ''\n", ["tenant"]),
        ("[store]\nrun_lease_s = 0\n", ["store.run_lease_s", "greater than 0"]),
        ("[planner]\nmax_reply_depth = 500\n", ["planner.max_reply_depth", "128"]),
        ("name = \n", ["not valid TOML"]),
    ],
)
def test_invalid_configs_name_the_field_and_the_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent_config(write(tmp_path, text))
    for part in expected:
        assert part in str(caught.value)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the agent config"):
        load_agent_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"must end in \.toml"):
        load_agent_config(write(tmp_path, "", "agent.json"))


def test_find_agent_config_prefers_toml(tmp_path: Path) -> None:
    assert find_agent_config(tmp_path) is None
    write(tmp_path, "name: a\n", "agent.yaml")
    assert find_agent_config(tmp_path) == tmp_path / "agent.yaml"
    write(tmp_path, "", "agent.toml")
    assert find_agent_config(tmp_path) == tmp_path / "agent.toml"


TOOLS = """
from pydantic import BaseModel
from penguiflow import Node, tool

class Args(BaseModel):
    x: int

class Out(BaseModel):
    y: int

@tool(desc="Double x")
async def double(args: Args, ctx) -> Out:
    return Out(y=args.x * 2)

async def untyped(args, ctx):
    return args

def not_async(args: Args, ctx) -> Out:
    return Out(y=args.x + 1)

NUMBER = 3
"""


async def _start(tmp_path: Path, tools: str, **model: str) -> Agent:
    (tmp_path / "agent_tools_mod.py").write_text(TOOLS)
    config = load_agent_config(write(tmp_path, tools))
    store = f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}"
    client = (
        None
        if model
        else ScriptedLLM(['{"next_node": "final_response", "args": {"answer": "ok"}}'])
    )
    agent = Agent.from_config(config, llm_client=client, store=store, **model)
    await agent.start()
    return agent


async def test_python_tool_by_import_path_is_in_the_catalog(tmp_path: Path) -> None:
    text = "[[tools]]\ntype='python'\npath='agent_tools_mod:double'\nname='twice'\n"
    agent = await _start(tmp_path, text)
    try:
        assert [spec.name for spec in agent.catalog] == ["twice"]
        assert agent.catalog[0].desc == "Double x"
        result = await agent.run("hi")
        assert result.payload.raw_answer == "ok"
    finally:
        await agent.aclose()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing_module_xyz:f", "cannot import module 'missing_module_xyz'"),
        ("agent_tools_mod:nothing", "has no attribute 'nothing'"),
        ("agent_tools_mod:untyped", "needs a pydantic model as its first parameter"),
        ("agent_tools_mod:NUMBER", "a python tool must be a function"),
    ],
)
async def test_python_tool_errors_say_how_to_fix_them(
    tmp_path: Path, path: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await _start(tmp_path, f"[[tools]]\ntype='python'\npath='{path}'\n")


async def test_model_client_import_path_and_errors(tmp_path: Path) -> None:
    (tmp_path / "my_llm.py").write_text(
        "from penguiflow.planner.testing import ScriptedLLM\n"
        "def factory():\n"
        '    return ScriptedLLM([\'{"next_node": "final_response", "args": {"answer": "hi"}}\'])\n'
        "def bad():\n    return 42\n"
    )
    config = load_agent_config(write(tmp_path, "[model]\nclient = 'my_llm:factory'\n"))
    async with Agent.from_config(
        config, store=f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}"
    ) as agent:
        assert (await agent.run("x")).payload.raw_answer == "hi"
    config = load_agent_config(write(tmp_path, "[model]\nclient = 'my_llm:bad'\n"))
    with pytest.raises(ConfigError, match="not an LLM client"):
        await Agent.from_config(
            config, store=f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"
        ).start()


async def test_no_model_anywhere_is_explained(tmp_path: Path) -> None:
    agent = Agent.from_config(
        AgentConfig.from_dict({}), store=f"sqlite+aiosqlite:///{tmp_path / 'd.sqlite3'}"
    )
    async with agent:
        with pytest.raises(ConfigError, match="has no model"):
            await agent.run("hello")


def test_the_config_reference_in_the_cli_docs_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_agent_config(write(tmp_path, block))
    assert [type(t).__name__ for t in config.tools] == [
        "PythonToolEntry",
        "ExternalToolConfig",
        "ExternalToolConfig",
    ]
    assert config.store.pause_ttl_s == 86400 and config.memory.budget.total_max_tokens == 4000
    assert config.store.run_lease_s == 30
    errors = doc.split("```\nerror:", 1)[1].split("```", 1)[0]
    with pytest.raises(ConfigError) as caught:
        load_agent_config(write(tmp_path, "[planner]\nmax_iter = 3\n"))
    assert f"error: {caught.value}" in "error:" + errors


async def test_planner_settings_for_small_and_local_models_reach_the_planner(
    tmp_path: Path,
) -> None:
    text = (
        "[[tools]]\ntype='python'\npath='agent_tools_mod:double'\n"
        "[planner]\ntool_mode = 'json'\nmax_string_length = 80\nmax_thought_length = 40\n"
    )
    agent = await _start(tmp_path, text)
    try:
        strict = agent.planner.response_format
        assert strict is not None and agent.planner.tool_mode == "json"
        branch = next(
            b
            for b in strict["json_schema"]["schema"]["anyOf"]
            if b["properties"]["next_node"]["const"] == "final_response"
        )
        assert branch["properties"]["thought"]["maxLength"] == 40
        assert branch["properties"]["args"]["properties"]["answer"]["maxLength"] == 80
    finally:
        await agent.aclose()
    with pytest.raises(ConfigError, match=r"planner\.tool_mode"):
        load_agent_config(write(tmp_path, "[planner]\ntool_mode = 'tools'\n"))
