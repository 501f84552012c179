from __future__ import annotations

import pytest
from pydantic import BaseModel

from penguiflow.memory.turns import ToolCallRecord, Turn, digest_result, render_turn


class Hit(BaseModel):
    title: str
    score: float


def test_digest_result_shapes() -> None:
    assert digest_result("plain") == "plain"
    assert digest_result({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'
    assert digest_result(Hit(title="x", score=0.5)) == '{"title":"x","score":0.5}'
    assert digest_result({1, 2}) in ('"{1, 2}"', "{1, 2}")


def test_digest_result_cuts_long_values() -> None:
    text = digest_result("x" * 5000, max_chars=100)
    assert len(text) == 100
    assert text.endswith("…[cut]")
    assert len(digest_result("y" * 50, max_chars=1)) == 16  # floor of 16 characters


def test_turn_defaults_and_ids() -> None:
    a, b = Turn(user="hi"), Turn(user="hi")
    assert a.id != b.id
    assert a.assistant == "" and a.tool_calls == () and not a.condensed
    with pytest.raises(Exception):  # noqa: B017 - frozen
        a.user = "changed"  # type: ignore[misc]


def test_render_keeps_each_call_with_its_result() -> None:
    turn = Turn(
        user="Weather in Paris?",
        tool_calls=(
            ToolCallRecord(name="geo", args={"city": "Paris"}, result='{"lat":48.8}'),
            ToolCallRecord(name="weather", args={"lat": 48.8}, error="timeout after 5 s"),
        ),
        assistant="I could not get the weather.",
    )
    assert render_turn(turn).splitlines() == [
        "User: Weather in Paris?",
        'Tool geo({"city":"Paris"}) -> {"lat":48.8}',
        'Tool weather({"lat":48.8}) failed: timeout after 5 s',
        "Assistant: I could not get the weather.",
    ]


def test_turn_round_trips_through_json() -> None:
    turn = Turn(
        user="u", assistant="a", tool_calls=(ToolCallRecord(name="t", result="r"),), meta={"run": 1}
    )
    assert Turn.model_validate_json(turn.model_dump_json()) == turn
