"""Bad input to the real ``penguiflow`` command: exit status 2 and one line that says what to fix.

Every case runs the installed command in a subprocess, as a user would, against the test
agent's directory (or a copy with one setting broken).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import penguiflow


def assert_bad_input(done, *parts: str) -> None:
    """Exit status 2, one ``error:`` line holding every part, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def with_setting(agent_dir: Path, text: str) -> None:
    config = agent_dir / "agent.toml"
    config.write_text(config.read_text() + "\n" + text + "\n")


@pytest.mark.parametrize(
    ("setting", "parts"),
    [
        (
            "[planner]\nmax_iters = true",
            ["agent.toml", "planner.max_iters", "whole number, got true"],
        ),
        ("[planner]\ndeadline_s = false", ["planner.deadline_s", "must be a number, got false"]),
        ("[planner]\nstream = 'yes'", ["planner.stream", "true or false, got 'yes'"]),
        ('[store]\npause_ttl_s = "60"', ["store.pause_ttl_s", "must be a number, got '60'"]),
    ],
    ids=["int-true", "float-false", "bool-string", "float-string"],
)
def test_a_boolean_or_string_is_not_a_number(agent_dir: Path, setting: str, parts) -> None:
    with_setting(agent_dir, setting)
    assert_bad_input(penguiflow("run", "add 1 and 2", cwd=agent_dir), *parts)


def test_model_name_and_client_together_are_refused(agent_dir: Path) -> None:
    config = agent_dir / "agent.toml"
    config.write_text(config.read_text().replace("[model]\n", '[model]\nname = "openai/gpt-4o"\n'))
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(done, "agent.toml", "model:", "name ('openai/gpt-4o')", "keep one of them")


def test_a_tool_module_that_raises_on_import_is_named(agent_dir: Path) -> None:
    (agent_dir / "broken_tools.py").write_text("raise RuntimeError('no API key configured')\n")
    with_setting(agent_dir, '[[tools]]\ntype = "python"\npath = "broken_tools:lookup"')
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(
        done,
        "tools[4]",
        "importing module 'broken_tools'",
        str(agent_dir / "broken_tools.py"),
        "RuntimeError: no API key configured",
        "python -c 'import broken_tools'",
    )


def test_a_tool_module_importing_a_missing_package_names_the_package(agent_dir: Path) -> None:
    (agent_dir / "needs_pkg.py").write_text("import no_such_package_xyz\n")
    with_setting(agent_dir, '[[tools]]\ntype = "python"\npath = "needs_pkg:lookup"')
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(done, "'needs_pkg' imports 'no_such_package_xyz'", "pip install")


def test_a_deeply_nested_toml_file_is_named(agent_dir: Path) -> None:
    (agent_dir / "agent.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(done, "agent.toml", "nest too deeply", "flatten it")


def test_a_non_utf8_config_file_is_named(agent_dir: Path) -> None:
    (agent_dir / "agent.toml").write_bytes(b'name = "caf\xe9"\n')
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(done, "agent.toml", "not UTF-8", "0xe9", "save the file as UTF-8")


@pytest.mark.parametrize("value", ["-5", "0", "100000000000000000000", "1e20", "ten"])
def test_limit_must_be_a_sensible_whole_number(tmp_path: Path, value: str) -> None:
    for command in (["runs", "list"], ["pauses", "list"]):
        done = penguiflow(*command, "--limit", value, cwd=tmp_path)
        assert_bad_input(done, "--limit", "whole number from 1 to 10000", repr(value))
    assert not (tmp_path / "penguiflow.sqlite3").exists()  # refused before opening a store


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list", "--tenant", ""],
        ["pauses", "list", "--tenant", "  "],
        ["runs", "list", "--session", ""],
        ["run", "", "--store", "sqlite+aiosqlite:///x.sqlite3"],
        ["run", "hi", "--model", ""],
        ["resume", "", "--approve"],
        ["runs", "list", "--store", ""],
    ],
    ids=["tenant", "blank-tenant", "session", "question", "model", "token", "store"],
)
def test_empty_values_are_refused(tmp_path: Path, args: list[str]) -> None:
    done = penguiflow(*args, cwd=tmp_path)
    assert_bad_input(done, "must not be empty")


def test_a_store_in_a_missing_directory_is_refused_naming_the_flag(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'runs.sqlite3'}"
    for command in (["runs", "list"], ["pauses", "list"], ["db", "upgrade"]):
        done = penguiflow(*command, "--store", url, cwd=tmp_path)
        assert_bad_input(done, "--store", str(tmp_path / "no" / "such" / "dir"), "does not exist")


def test_a_store_whose_directory_is_a_file_is_refused_naming_the_config(agent_dir: Path) -> None:
    (agent_dir / "data").write_text("a file, not a directory")
    with_setting(agent_dir, '[store]\nurl = "sqlite+aiosqlite:///data/runs.sqlite3"')
    done = penguiflow("run", "add 1 and 2", cwd=agent_dir)
    assert_bad_input(done, "[store] url in the agent config", "'data' is not a directory")


def test_deeply_nested_edit_json_is_refused(agent_dir: Path) -> None:
    done = penguiflow("resume", "tok", "--edit", "[" * 10_000 + "]" * 10_000, cwd=agent_dir)
    assert_bad_input(done, "--edit", "nests")


def test_an_unwritable_log_file_is_refused(agent_dir: Path) -> None:
    done = penguiflow(
        "--log-file", str(agent_dir / "missing" / "cli.log"), "runs", "list", cwd=agent_dir
    )
    assert_bad_input(done, "--log-file", "No such file or directory")
