"""ExternalToolConfig: validation, loading from dict/TOML/YAML, secrets."""

import pytest
from pydantic import SecretStr

from penguiflow.tools import ExternalToolConfig, load_tool_configs
from penguiflow.tools._allowlist import ToolFilter
from penguiflow.tools._secrets import Redactor, resolve
from penguiflow.tools.errors import SecretNotFoundError, ToolConfigError

TOML = """
[[tools]]
name = "files"
transport = "mcp"
connection = "python -m files_server --root '/tmp/a b'"
allow = ["read_*", "list_dir"]
require_approval = ["write_*"]
timeout_s = 5
retry = { attempts = 2, backoff_base = 0.1 }

[[tools]]
name = "shop"
transport = "http"
base_url = "https://api.example.com/v1"
auth = { type = "bearer", token = "${SHOP_TOKEN}" }
allow = ["*"]

[[tools.operations]]
name = "get_item"
path = "/items/{item_id}"
args_schema = { type = "object", properties = { item_id = { type = "string" } } }
"""

YAML = """
tools:
  - name: remote
    transport: mcp
    connection: https://mcp.example.com/mcp
    headers:
      X-Key: ${REMOTE_KEY}
    allow: ["*"]
"""


def test_toml_yaml_and_files(tmp_path):
    files, shop = ExternalToolConfig.from_toml(TOML)
    assert files.command == ["python", "-m", "files_server", "--root", "/tmp/a b"]
    assert files.resolved_transport == "stdio" and files.retry.attempts == 2
    assert shop.operations[0].path_params == ("item_id",)
    assert shop.auth.type == "bearer" and isinstance(shop.auth.token, SecretStr)
    (remote,) = ExternalToolConfig.from_yaml(YAML)
    assert remote.resolved_transport == "streamable_http"
    path = tmp_path / "tools.toml"
    path.write_text(TOML)
    assert [c.name for c in load_tool_configs(path)] == ["files", "shop"]
    yml = tmp_path / "tools.yml"
    yml.write_text(YAML)
    assert load_tool_configs(yml)[0].name == "remote"
    with pytest.raises(ToolConfigError, match=r"\.toml, \.yaml or \.yml"):
        load_tool_configs(tmp_path / "tools.json")
    with pytest.raises(ToolConfigError, match="cannot read"):
        load_tool_configs(tmp_path / "missing.toml")
    with pytest.raises(ToolConfigError, match="not valid TOML"):
        ExternalToolConfig.from_toml("[[tools]\n")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "x", "transport": "mcp"}, "needs connection="),
        ({"name": "a.b", "transport": "mcp", "connection": "srv"}, "must start with a letter"),
        (
            {
                "name": "x",
                "transport": "mcp",
                "connection": "http://h/mcp",
                "mcp_transport": "stdio",
            },
            "needs a command",
        ),
        (
            {"name": "x", "transport": "mcp", "connection": "srv", "mcp_transport": "sse"},
            "needs an http(s):// URL",
        ),
        ({"name": "x", "transport": "http", "operations": []}, "needs base_url"),
        ({"name": "x", "transport": "http", "base_url": "http://h"}, "declares no operations"),
        (
            {
                "name": "x",
                "transport": "http",
                "base_url": "http://h",
                "operations": [{"name": "o", "path": "http://evil/x"}],
            },
            "relative to base_url",
        ),
        ({"name": "x", "transport": "mcp", "connection": "s", "timeout_s": -1}, "timeout_s"),
        ({"name": "x", "transport": "ftp"}, "transport"),
        ({"name": "x", "transport": "mcp", "connection": "s", "alow": ["*"]}, "alow"),
    ],
)
def test_invalid_configs_say_what_is_wrong(data, fragment):
    with pytest.raises(ToolConfigError) as info:
        ExternalToolConfig.from_dict(data)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_secrets_hidden_in_repr_and_dump():
    cfg = ExternalToolConfig.from_dict(
        {
            "name": "x",
            "transport": "http",
            "base_url": "http://h",
            "operations": [{"name": "o", "path": "/o"}],
            "headers": {"X-Key": "plain-secret-1"},
            "auth": {"type": "basic", "username": "u", "password": "plain-secret-2"},
        }
    )
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
        assert "plain-secret" not in text


def test_placeholders_resolve_at_call_time(monkeypatch):
    monkeypatch.setenv("PF_A", "alpha")
    monkeypatch.setenv("PF_B", "beta")
    assert resolve(SecretStr("${PF_A}:${PF_B}")) == "alpha:beta"
    assert resolve("no placeholders") == "no placeholders"
    monkeypatch.delenv("PF_B")
    with pytest.raises(SecretNotFoundError) as info:
        resolve("${PF_A}${PF_B}", server="srv")
    assert info.value.variable == "PF_B" and "srv" in str(info.value)
    assert "alpha" not in str(info.value)


def test_redactor_masks_values_in_text_and_data():
    red = Redactor()
    red.add("topsecret", "ab")  # too short values are ignored
    assert red.text("x topsecret y ab") == "x *** y ab"
    assert red.data({"k": ["topsecret", 1], "topsecret": None}) == {"k": ["***", 1], "***": None}


def test_tool_filter_deny_by_default_and_whole_names():
    assert not ToolFilter("s", [], []).allowed("anything")
    f = ToolFilter("s", ["read_*", "s.list", "exact"], ["read_secret*"])
    assert f.allowed("read_file") and f.allowed("list") and f.allowed("exact")
    assert not f.allowed("read_secrets") and not f.allowed("exact2") and not f.allowed("xexact")
    assert not f.allowed("Read_file")  # case-sensitive


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", True),
        ("max_concurrency", True),
        ("cache_tools", "yes"),
        ("retry", {"attempts": True}),
        ("retry", {"status_codes": [True]}),
        ("tool_timeouts", {"slow": False}),
        ("connect_timeout_s", "15"),
    ],
)
def test_booleans_and_strings_are_not_numbers(field, value):
    base = {"name": "s", "transport": "mcp", "connection": "srv", "allow": ["*"]}
    with pytest.raises(ToolConfigError) as info:
        ExternalToolConfig.from_dict({**base, field: value})
    assert field in str(info.value)


def test_unreadable_tool_config_files_are_named(tmp_path):
    latin1 = tmp_path / "tools.toml"
    latin1.write_bytes(b'[[tools]]\nname = "caf\xe9"\n')
    with pytest.raises(ToolConfigError, match=r"tools\.toml.*not UTF-8.*save it as UTF-8"):
        load_tool_configs(latin1)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ToolConfigError, match=r"deep\.toml.*nests tables or lists too deeply"):
        load_tool_configs(deep)


def test_redactor_masks_every_encoded_form_and_keeps_other_text():
    redactor = Redactor()
    redactor.add("s3cr+t/v=lue")
    text = "a s3cr%2Bt%2Fv%3Dlue b s3cr%2bt%2fv%3dlue c czNjcit0L3Y9bHVl d"
    assert redactor.text(text) == "a *** b *** c *** d"
    assert redactor.excerpt("x" * 8 + "s3cr+t/v=lue", 10) == "x" * 8 + "**"
