"""Tool argument schemas: pydantic models for the catalog, jsonschema for validation.

The generated model gives the planner a typed ``args_model``; its ``model_json_schema()``
returns the server's original schema, so the LLM sees it with full fidelity. Arguments are
validated with ``jsonschema`` against that original schema, never against the model.
"""

from __future__ import annotations

import copy
import keyword
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["ArgsValidator", "ExternalArgs", "build_args_model", "to_arguments"]

_MAX_DEPTH = 8
_MAX_ERRORS = 5
_SCALARS: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}


class ExternalArgs(BaseModel):
    """Base class of the argument models generated from external tool schemas.

    ``model_json_schema()`` returns the server's schema unchanged.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    __tool_schema__: ClassVar[dict[str, Any]] = {"type": "object"}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return a copy of the tool's original JSON Schema."""
        return copy.deepcopy(cls.__tool_schema__)


class _StrictExternalArgs(ExternalArgs):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Nested(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _identifier(name: str, taken: set[str]) -> str:
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit():
        ident = f"f_{ident}"
    if keyword.iskeyword(ident) or ident.startswith("_") or hasattr(BaseModel, ident):
        ident = f"f_{ident.lstrip('_')}"
    base, n = ident, 2
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root

    def _deref(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        if not ref.startswith("#/"):
            return None
        node: Any = self._root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, dict) else None

    def type_of(self, schema: Any, depth: int, hint: str) -> Any:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return Any
        resolved = self._deref(schema)
        if resolved is None:
            return Any
        schema = resolved
        if "const" in schema:
            return _literal([schema["const"]])
        if "enum" in schema and isinstance(schema["enum"], list):
            return _literal(schema["enum"])
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return _union([self.type_of(o, depth + 1, hint) for o in options])
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union([self.type_of({**schema, "type": k}, depth + 1, hint) for k in kind])
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            return list[self.type_of(schema.get("items"), depth + 1, hint)]  # type: ignore[misc]
        if kind == "object" or "properties" in schema:
            if isinstance(schema.get("properties"), dict) and schema["properties"]:
                return self.model(schema, depth + 1, _Nested, hint)
            return dict[str, Any]
        return Any

    def model(
        self, schema: dict[str, Any], depth: int, base: type[BaseModel], name: str
    ) -> type[BaseModel]:
        props = schema.get("properties")
        properties: dict[str, Any] = props if isinstance(props, dict) else {}
        required = set(schema.get("required") or ())
        taken: set[str] = set()
        fields: dict[str, Any] = {}
        for prop, sub in properties.items():
            ident = _identifier(prop, taken)
            annotation = self.type_of(sub, depth, f"{name}_{ident}")
            desc = sub.get("description") if isinstance(sub, dict) else None
            alias = prop if ident != prop else None
            if prop in required:
                fields[ident] = (annotation, Field(..., alias=alias, description=desc))
            else:
                fields[ident] = (annotation | None, Field(None, alias=alias, description=desc))
        extra: Literal["forbid", "allow"] = (
            "forbid" if schema.get("additionalProperties") is False else "allow"
        )
        config = ConfigDict(extra=extra, populate_by_name=True)
        if base is ExternalArgs:
            root = _StrictExternalArgs if extra == "forbid" else ExternalArgs
            return create_model(name, __base__=root, **fields)
        return create_model(name, __config__=config, **fields)


def _literal(values: list[Any]) -> Any:
    if values and all(v is None or isinstance(v, str | int | float | bool) for v in values):
        return Literal[tuple(values)]
    return Any


def _union(types: list[Any]) -> Any:
    if any(t is Any for t in types):
        return Any
    unique = list(dict.fromkeys(types))
    return unique[0] if len(unique) == 1 else Union[tuple(unique)]  # noqa: UP007


def build_args_model(qualified_name: str, schema: dict[str, Any]) -> type[ExternalArgs]:
    """Build a pydantic model for the arguments of ``qualified_name`` from its schema."""
    class_name = "".join(p.capitalize() for p in re.split(r"\W+", qualified_name) if p) + "Args"
    model = cast(type[ExternalArgs], _Builder(schema).model(schema, 0, ExternalArgs, class_name))
    model.__tool_schema__ = copy.deepcopy(schema)
    return model


def to_arguments(args: Any) -> dict[str, Any]:
    """Turn a model instance or a mapping into the JSON arguments to send.

    Fields the caller did not set are left out, so the server applies its own defaults.
    """
    if isinstance(args, BaseModel):
        return args.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if args is None:
        return {}
    if isinstance(args, dict):
        return dict(args)
    raise TypeError(f"tool arguments must be a dict or a pydantic model, got {type(args).__name__}")


class ArgsValidator:
    """Validates arguments against a tool's original JSON Schema.

    Raises:
        jsonschema.exceptions.SchemaError: the server's schema itself is invalid.
    """

    __slots__ = ("_validator",)
    _validator: Validator

    def __init__(self, schema: dict[str, Any]) -> None:
        from jsonschema import FormatChecker
        from jsonschema.validators import validator_for

        cls: type[Validator] = validator_for(schema)
        cls.check_schema(schema)
        self._validator = cls(schema, format_checker=FormatChecker())

    def errors(self, arguments: dict[str, Any]) -> list[str]:
        """Return readable descriptions of what is wrong (empty when valid)."""
        found = sorted(
            self._validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.path]
        )
        out = []
        for err in found[:_MAX_ERRORS]:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
            message = err.message if len(err.message) <= 200 else err.message[:200] + "..."
            out.append(f"at '{where.lstrip('.') or '(root)'}': {message}")
        if len(found) > _MAX_ERRORS:
            out.append(f"... and {len(found) - _MAX_ERRORS} more")
        return out
