"""Logging as documented: ``configure_logging``, ``StructuredFormatter``, ``ExtraFormatter``."""

from __future__ import annotations

import io
import json
import logging

from penguiflow import ExtraFormatter, StructuredFormatter, configure_logging


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "penguiflow.planner", logging.INFO, __file__, 1, "planner_action", (), None
    )
    made.__dict__.update(extra)
    return made


def test_structured_formatter_nests_the_extras() -> None:
    line = StructuredFormatter().format(record(step=1, thought="look", obj=object()))
    data = json.loads(line)
    assert (data["level"], data["logger"], data["message"]) == (
        "INFO",
        "penguiflow.planner",
        "planner_action",
    )
    assert data["timestamp"].endswith("+00:00")
    assert data["extra"]["step"] == 1 and data["extra"]["thought"] == "look"
    assert isinstance(data["extra"]["obj"], str)
    assert "timestamp" not in json.loads(
        StructuredFormatter(include_timestamp=False).format(record())
    )


def test_extra_formatter_appends_the_extras() -> None:
    formatter = ExtraFormatter("%(levelname)s:%(name)s:%(message)s")
    line = formatter.format(record(step=1, next_node="search", long="x" * 150))
    assert line.startswith('INFO:penguiflow.planner:planner_action [step=1, next_node="search", ')
    assert 'long="' + "x" * 100 + '..."' in line
    assert formatter.format(record()) == "INFO:penguiflow.planner:planner_action"


def test_configure_logging_text_mode_shows_extras_unless_told_not_to() -> None:
    stream = io.StringIO()
    log = configure_logging("INFO", logger_name="compat-demo", stream=stream)
    log.info("job_fetched", extra={"job_id": "j1"})
    configure_logging("INFO", logger_name="compat-demo", stream=stream, include_extras=False)
    log.info("job_done", extra={"job_id": "j1"})
    first, second = stream.getvalue().splitlines()
    assert first.endswith('job_fetched [job_id="j1"]')
    assert second.endswith("job_done")


def test_configure_logging_structured_writes_json_lines() -> None:
    stream = io.StringIO()
    log = configure_logging(logging.INFO, structured=True, logger_name="compat-json", stream=stream)
    log.info("job_failed", extra={"job_id": "j2", "trace_id": "job-j2"})
    data = json.loads(stream.getvalue())
    assert (data["message"], data["job_id"], data["trace_id"]) == ("job_failed", "j2", "job-j2")
