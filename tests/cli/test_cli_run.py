"""``penguiflow run`` and ``penguiflow resume`` against SQLite.

The main flows run as subprocesses (a pause in one process, its resume in another); the
many variations call the CLI's ``main`` in this process, which is much faster.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import penguiflow, penguiflow_inline, token_of


def test_run_answers_and_stores_the_run_in_the_default_sqlite_file(agent_dir: Path) -> None:
    done = penguiflow("run", "please add 2 and 40", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "The sum is 42."
    assert "calling add" in done.stderr  # tool activity is shown
    assert (agent_dir / "penguiflow.sqlite3").exists()


def test_run_json_is_one_object(agent_dir: Path) -> None:
    done = penguiflow_inline("run", "add 1 and 2", "--json", cwd=agent_dir)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "finished"
    assert data["reason"] == "answer_complete"
    assert data["answer"] == "The sum is 3."
    assert data["steps"] == 1


def test_run_with_an_explicit_config_from_elsewhere(agent_dir: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    done = penguiflow_inline(
        "run", "add 5 and 5", "--config", str(agent_dir / "agent.toml"), cwd=elsewhere
    )
    assert done.returncode == 0, done.stderr
    assert "The sum is 10." in done.stdout


def test_pause_prints_the_token_and_exits_3_then_resume_approves(agent_dir: Path) -> None:
    paused = penguiflow("run", "transfer 30 to bob", cwd=agent_dir)
    assert paused.returncode == 3, paused.stderr
    assert "approval_required" in paused.stderr
    assert "transfer" in paused.stderr and '"amount": 30' in paused.stderr
    assert not (agent_dir / "transfers.log").exists()  # nothing ran before the approval
    token = token_of(paused.stdout)

    resumed = penguiflow("resume", token, "--approve", cwd=agent_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "Transferred 30 to bob." in resumed.stdout
    assert (agent_dir / "transfers.log").read_text() == "30 bob\n"

    again = penguiflow("resume", token, "--approve", cwd=agent_dir)
    assert again.returncode == 1
    assert "already resumed" in again.stderr
    assert (agent_dir / "transfers.log").read_text() == "30 bob\n"  # exactly once


def test_resume_reject_with_reason_reaches_the_model(agent_dir: Path) -> None:
    paused = penguiflow_inline("run", "transfer 500 to bob", "--json", cwd=agent_dir)
    assert paused.returncode == 3, paused.stderr
    data = json.loads(paused.stdout)
    assert data["status"] == "paused"
    assert data["pending_calls"][0]["tool"] == "transfer"
    resumed = penguiflow_inline(
        "resume",
        data["resume_token"],
        "--reject",
        "--reason",
        "too much",
        "--json",
        cwd=agent_dir,
    )
    assert resumed.returncode == 0, resumed.stderr
    answer = json.loads(resumed.stdout)["answer"]
    assert answer.startswith("The transfer was not made.")
    assert "too much" in answer
    assert not (agent_dir / "transfers.log").exists()


def test_resume_edit_runs_the_edited_arguments(agent_dir: Path) -> None:
    token = token_of(penguiflow_inline("run", "transfer 900 to bob", cwd=agent_dir).stdout)
    resumed = penguiflow_inline(
        "resume", token, "--edit", '{"amount": 90, "to": "eve"}', cwd=agent_dir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Transferred 90 to eve." in resumed.stdout
    assert (agent_dir / "transfers.log").read_text() == "90 eve\n"


def test_resume_edit_that_fails_validation_leaves_the_pause_pending(agent_dir: Path) -> None:
    token = token_of(penguiflow_inline("run", "transfer 900 to bob", cwd=agent_dir).stdout)
    bad = penguiflow_inline("resume", token, "--edit", '{"amount": -5, "to": "eve"}', cwd=agent_dir)
    assert bad.returncode in (1, 2)
    assert "amount" in bad.stderr
    good = penguiflow_inline("resume", token, "--approve", cwd=agent_dir)
    assert good.returncode == 0, good.stderr
    assert (agent_dir / "transfers.log").read_text() == "900 bob\n"


def test_resume_input_answers_a_tool_question(agent_dir: Path) -> None:
    paused = penguiflow_inline("run", "what is my favourite colour?", cwd=agent_dir)
    assert paused.returncode == 3, paused.stderr
    assert "favourite colour" in paused.stderr
    resumed = penguiflow_inline("resume", token_of(paused.stdout), "--input", "teal", cwd=agent_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "teal" in resumed.stdout


def test_unknown_token_fails_with_exit_1(agent_dir: Path) -> None:
    done = penguiflow_inline("resume", "not-a-real-token", "--approve", cwd=agent_dir)
    assert done.returncode == 1
    assert "error:" in done.stderr


def test_bad_edit_json_is_a_usage_error(agent_dir: Path) -> None:
    done = penguiflow_inline("resume", "tok", "--edit", "{nope", cwd=agent_dir)
    assert done.returncode == 2
    assert "--edit must be JSON" in done.stderr


def test_no_config_is_a_usage_error_that_says_what_to_do(tmp_path: Path) -> None:
    done = penguiflow_inline("run", "hello", cwd=tmp_path)
    assert done.returncode == 2
    assert "penguiflow new" in done.stderr and "--config" in done.stderr


def test_invalid_config_names_the_field(agent_dir: Path) -> None:
    config = agent_dir / "agent.toml"
    config.write_text(config.read_text().replace("max_iters", "x") + "\n[planner]\nmax_iter = 3\n")
    done = penguiflow_inline("run", "hello", cwd=agent_dir)
    assert done.returncode == 2
    assert "planner.max_iter" in done.stderr
    assert "unknown setting" in done.stderr


def test_missing_decision_flag_is_rejected_by_the_parser(agent_dir: Path) -> None:
    done = penguiflow_inline("resume", "tok", cwd=agent_dir)
    assert done.returncode == 2
    assert "one of the arguments --approve --reject --input --edit is required" in done.stderr
