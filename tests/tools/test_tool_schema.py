"""Argument models generated from JSON Schema, and full-fidelity validation."""

import pydantic
import pytest
from jsonschema.exceptions import SchemaError

from penguiflow.tools._schema import ArgsValidator, build_args_model, to_arguments

SCHEMA = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "description": "origin"},
        "x-mode": {"enum": ["fast", "slow"]},
        "count": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {"$ref": "#/$defs/Place"},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "maybe": {"type": ["number", "null"]},
    },
    "required": ["from", "where"],
    "additionalProperties": False,
    "$defs": {
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city"],
        }
    },
}


def test_model_keeps_the_original_schema_and_aliases_names():
    model = build_args_model("geo.route", SCHEMA)
    assert model.__name__ == "GeoRouteArgs"
    assert model.model_json_schema() == SCHEMA
    args = model.model_validate({"from": "a", "x-mode": "fast", "where": {"city": "Oslo"}})
    assert to_arguments(args) == {"from": "a", "x-mode": "fast", "where": {"city": "Oslo"}}
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"from": "a", "where": {"city": "x"}, "x-mode": "medium"})
    with pytest.raises(pydantic.ValidationError):  # additionalProperties: false
        model.model_validate({"from": "a", "where": {"city": "x"}, "extra": 1})
    assert model.model_fields["f_from"].description == "origin"


def test_to_arguments_leaves_out_unset_fields_and_rejects_other_types():
    model = build_args_model("t.x", SCHEMA)
    args = model.model_validate({"from": "a", "where": {"city": "c"}, "maybe": None})
    assert to_arguments(args) == {"from": "a", "where": {"city": "c"}, "maybe": None}
    assert to_arguments(None) == {}
    with pytest.raises(TypeError):
        to_arguments([1, 2])


def test_validator_reports_paths_with_full_fidelity():
    validator = ArgsValidator(SCHEMA)
    assert validator.errors({"from": "a", "where": {"city": "c"}}) == []
    errors = validator.errors({"from": 1, "count": 0, "tags": ["a", 2], "where": {}, "zzz": 1})
    text = " | ".join(errors)
    for fragment in ("at 'from'", "at 'count'", "at 'tags[1]'", "at 'where'", "'city'", "zzz"):
        assert fragment in text
    many = validator.errors({"from": 1, "count": 0, "tags": [1, 2, 3], "where": {}, "zzz": 1})
    assert len(many) == 6 and many[-1] == "... and 2 more"  # capped


def test_invalid_server_schema_is_rejected():
    with pytest.raises(SchemaError):
        ArgsValidator({"type": "object", "properties": {"a": {"type": "no-such-type"}}})
