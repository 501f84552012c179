"""The ``response_format`` sent to the LLM, built once per catalog.

Four JSON modes, tried in this order; when a provider rejects one, the planner steps
down and remembers the mode per model (:class:`FormatMemory`). With ``tool_mode="auto"``
a fifth mode, ``"native"`` (the catalog sent as the request's ``tools``, no
``response_format``), comes first for models that handle native tool calls.

1. ``"strict"``: one ``anyOf`` branch per tool (``next_node`` a constant, ``args``
   that tool's args schema with ``additionalProperties: false``, string length bounds
   and typed array items), plus the ``final_response`` and ``parallel`` branches. Every
   property is required; optional arguments become nullable and a ``null`` sent for
   them is dropped again before validation (:func:`strip_optional_nulls`). Constrained
   decoders then cannot produce an unknown tool or malformed arguments. The string
   bounds (:class:`StringBounds`) default to what fits the reply's token limit, so a
   grammar-constrained reply closes its JSON before ``max_tokens`` cuts it off.
2. ``"generic"``: ``{"thought", "next_node", "args"}`` with ``args`` a free object.
3. ``"json_object"``: any JSON object.
4. ``"prompt"``: no ``response_format``; the system prompt alone describes the shape.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ..catalog import NodeSpec
from .actions import FINAL_RESPONSE, INJECT_SOURCES, PARALLEL, FinalAnswerArgs

__all__ = [
    "FORMAT_MODES",
    "ActionSchemas",
    "FormatMemory",
    "FormatMode",
    "StringBounds",
    "build_action_schemas",
    "lean_schema",
    "strip_optional_nulls",
]

FormatMode = Literal["native", "strict", "generic", "json_object", "prompt"]
FORMAT_MODES: tuple[FormatMode, ...] = ("strict", "generic", "json_object", "prompt")
"""The JSON modes, strongest first (``"native"`` is not a JSON mode)."""
_SCHEMA_NAME = "planner_action"
_DROP_KEYS = ("title", "default", "examples")


@dataclass(frozen=True, slots=True)
class StringBounds:
    """``maxLength`` of the strings in the strict schema.

    Attributes:
        thought: the ``thought`` of every action.
        argument: string arguments of tools (and of a ``final_response_model``) that
            have no ``max_length`` of their own.
        answer: the ``answer`` of ``final_response``.
    """

    thought: int = 500
    argument: int = 4096
    answer: int = 16000

    @classmethod
    def fitting(
        cls,
        reply_tokens: int | None,
        *,
        max_string_length: int | None = None,
        max_thought_length: int | None = None,
    ) -> StringBounds:
        """The bounds for replies of at most ``reply_tokens`` tokens.

        A string can cost a token per character (digits, rare words), so with a known
        limit a thought gets at most a quarter of it and any other string at most half,
        in characters: a reply holding a thought and a string still closes before the
        limit. Without one (and as upper bounds), thoughts get 500 characters,
        arguments 4096 and answers 16000.

        Args:
            reply_tokens: the reply's token limit (``max_tokens``), if known.
            max_string_length: the bound of arguments and answers, instead.
            max_thought_length: the bound of thoughts, instead.
        """
        default = cls()
        thought, argument, answer = default.thought, default.argument, default.answer
        if reply_tokens is not None:
            thought = min(thought, max(16, reply_tokens // 4))
            argument = min(argument, max(16, reply_tokens // 2))
            answer = min(answer, max(16, reply_tokens // 2))
        if max_string_length is not None:
            argument = answer = max_string_length
        if max_thought_length is not None:
            thought = max_thought_length
        return cls(thought=thought, argument=argument, answer=answer)


@dataclass(frozen=True, slots=True)
class ActionSchemas:
    """The strict and generic action schemas of one catalog, and their ``response_format``s.

    Everything is built once; treat the dicts as read-only.

    Attributes:
        strict: the catalog-specific schema (a JSON Schema with ``anyOf`` at the root).
        generic: the catalog-independent schema.
    """

    strict: dict[str, Any]
    generic: dict[str, Any]
    _formats: dict[str, dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        formats = {
            "strict": {
                "type": "json_schema",
                "json_schema": {"name": _SCHEMA_NAME, "schema": self.strict, "strict": True},
            },
            "generic": {
                "type": "json_schema",
                "json_schema": {"name": _SCHEMA_NAME, "schema": self.generic, "strict": False},
            },
            "json_object": {"type": "json_object"},
        }
        object.__setattr__(self, "_formats", formats)

    def response_format(self, mode: FormatMode) -> dict[str, Any] | None:
        """Return the ``response_format`` of ``mode`` (``None``: ``prompt``, ``native``)."""
        return self._formats.get(mode)


class FormatMemory:
    """Remembers, per model, the best request mode the provider accepted.

    The modes are tried along a ladder (by default the JSON modes from ``first`` down);
    a rejected mode moves that model one rung down, never back up. Bounded: at most
    ``max_models`` models are remembered (least recently used dropped).

    Args:
        ladder: the modes in the order to try them; defaults to :data:`FORMAT_MODES`
            from ``first`` down.
        first: the first JSON mode when no ``ladder`` is given.
        max_models: how many models to remember.
    """

    def __init__(
        self,
        ladder: Sequence[FormatMode] | None = None,
        *,
        first: FormatMode = "strict",
        max_models: int = 64,
    ) -> None:
        self._ladder: tuple[FormatMode, ...] = ()
        self._modes: OrderedDict[str, FormatMode] = OrderedDict()
        self._max = max_models
        self.use_ladder(ladder or FORMAT_MODES[FORMAT_MODES.index(first) :])

    @property
    def ladder(self) -> tuple[FormatMode, ...]:
        """The modes in the order they are tried."""
        return self._ladder

    def use_ladder(self, ladder: Sequence[FormatMode]) -> None:
        """Replace the ladder (and forget what was remembered).

        Raises:
            ValueError: ``ladder`` is empty.
        """
        if not ladder:
            raise ValueError("a format ladder needs at least one mode")
        self._ladder = tuple(ladder)
        self._modes.clear()

    def mode_for(self, model: str) -> FormatMode:
        """Return the mode to use for ``model``."""
        mode = self._modes.get(model)
        if mode is None:
            return self._ladder[0]
        self._modes.move_to_end(model)
        return mode

    def step_down(self, model: str, rejected: FormatMode) -> FormatMode | None:
        """Record that ``model`` rejected ``rejected``; return the next mode, or ``None``."""
        ladder = self._ladder
        if rejected not in ladder:
            return None
        index = ladder.index(rejected)
        if index + 1 >= len(ladder):
            return None
        current = self.mode_for(model)
        nxt = ladder[max(index + 1, ladder.index(current))]
        self._modes[model] = nxt
        self._modes.move_to_end(model)
        while len(self._modes) > self._max:
            self._modes.popitem(last=False)
        return nxt


def lean_schema(node: Any, *, in_properties: bool = False) -> Any:
    """A pydantic schema without its ``title``s (they cost tokens and say nothing new).

    Args:
        node: the schema (or a part of it).
        in_properties: whether ``node`` maps property names to schemas (a property
            may be called ``title``).
    """
    if isinstance(node, list):
        return [lean_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: lean_schema(value, in_properties=key in ("properties", "$defs"))
        for key, value in node.items()
        if key != "title" or in_properties
    }


def _rewrite_refs(node: Any, rename: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/$defs/" + rename.get(value[8:], value[8:])
            else:
                out[key] = _rewrite_refs(value, rename)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, rename) for v in node]
    return node


def _any_item(max_string: int) -> dict[str, Any]:
    """What an untyped array item becomes: a JSON scalar (grammars need a type)."""
    return {
        "anyOf": [
            {"type": "string", "maxLength": max_string},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
        ]
    }


def _nullable(schema: Any) -> bool:
    options = schema.get("anyOf") if isinstance(schema, dict) else None
    return isinstance(options, list) and {"type": "null"} in options


def _tighten(node: Any, *, max_string: int) -> Any:
    """Make every object closed and fully required, bound every string, type every item."""
    if isinstance(node, list):
        return [_tighten(v, max_string=max_string) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {n: _tighten(p, max_string=max_string) for n, p in value.items()}
        else:
            out[key] = _tighten(value, max_string=max_string)
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out.setdefault("maxLength", max_string)
    if out.get("type") == "array" and not out.get("items") and "prefixItems" not in out:
        out["items"] = _any_item(max_string)
    props = out.get("properties")
    if isinstance(props, dict):
        required = set(out.get("required", ()))
        for name, prop in list(props.items()):
            if name not in required and not _nullable(prop):
                props[name] = {"anyOf": [prop, {"type": "null"}]}
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


class _DefsCollector:
    """Collects ``$defs`` of many model schemas into one root, renaming on clashes."""

    def __init__(self, *, max_string: int) -> None:
        self.defs: dict[str, Any] = {}
        self.max_string = max_string

    def add(self, prefix: str, schema: dict[str, Any]) -> dict[str, Any]:
        schema = copy.deepcopy(schema)
        local = schema.pop("$defs", {})
        rename = {name: f"{prefix}__{name}" for name in local}
        for name, sub in local.items():
            self.defs[rename[name]] = _tighten(
                _rewrite_refs(sub, rename), max_string=self.max_string
            )
        return dict(_tighten(_rewrite_refs(schema, rename), max_string=self.max_string))


def _branch(name: str, args: dict[str, Any], thought: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": thought},
            "next_node": {"type": "string", "const": name, "enum": [name]},
            "args": args,
        },
        "required": ["thought", "next_node", "args"],
        "additionalProperties": False,
    }


def _final_args(model: type[BaseModel] | None, defs: _DefsCollector, answer: int) -> dict[str, Any]:
    if model is not None:
        return defs.add("final_response", model.model_json_schema())
    schema = FinalAnswerArgs.model_json_schema()
    schema.pop("description", None)  # the class docstring, written for Python readers
    schema["properties"]["answer"]["maxLength"] = answer
    sources = {"type": "array", "items": {"type": "string", "maxLength": defs.max_string}}
    schema["properties"]["sources"] = {"anyOf": [sources, {"type": "null"}]}
    return defs.add("final_response", schema)


def _parallel_args(
    tool_args: dict[str, dict[str, Any]], join_args: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    steps = [
        {
            "type": "object",
            "properties": {"node": {"type": "string", "const": n, "enum": [n]}, "args": a},
            "required": ["node", "args"],
            "additionalProperties": False,
        }
        for n, a in tool_args.items()
    ]
    joins: list[dict[str, Any]] = [{"type": "null"}]
    for name, args in join_args.items():
        fields = list(args.get("properties", {}))
        inject = {
            "type": "object",
            "properties": {
                f: {"anyOf": [{"type": "string", "enum": sorted(INJECT_SOURCES)}, {"type": "null"}]}
                for f in fields
            },
            "required": fields,
            "additionalProperties": False,
        }
        joins.append(
            {
                "type": "object",
                "properties": {
                    "node": {"type": "string", "const": name, "enum": [name]},
                    "args": args,
                    "inject": inject,
                },
                "required": ["node", "args", "inject"],
                "additionalProperties": False,
            }
        )
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "minItems": 1, "items": {"anyOf": steps}},
            "join": {"anyOf": joins},
        },
        "required": ["steps", "join"],
        "additionalProperties": False,
    }


def _all_nullable(args: dict[str, Any]) -> dict[str, Any]:
    """Join args: every field may be null, since injected fields are filled by the planner."""
    out = dict(args)
    props = out.get("properties")
    if isinstance(props, dict):
        out["properties"] = {
            k: v
            if "anyOf" in v and {"type": "null"} in v["anyOf"]
            else {"anyOf": [v, {"type": "null"}]}
            for k, v in props.items()
        }
    return out


def build_action_schemas(
    specs: Sequence[NodeSpec],
    *,
    final_response_model: type[BaseModel] | None = None,
    bounds: StringBounds | None = None,
) -> ActionSchemas:
    """Build the strict and generic action schemas for a catalog (call once per catalog).

    Args:
        specs: the catalog.
        final_response_model: the model the final answer's ``args`` must match, if any.
        bounds: the ``maxLength`` of thoughts, answers and string arguments without
            one (default: :class:`StringBounds` with no reply limit).

    Returns:
        The :class:`ActionSchemas`.
    """
    bounds = bounds or StringBounds()
    thought = bounds.thought
    defs = _DefsCollector(max_string=bounds.argument)
    tool_args = {spec.name: defs.add(spec.name, spec.args_schema) for spec in specs}
    branches = [_branch(s.name, tool_args[s.name], thought) for s in specs]
    final = _final_args(final_response_model, defs, bounds.answer)
    branches.append(_branch(FINAL_RESPONSE, final, thought))
    if specs:
        join_args = {name: _all_nullable(args) for name, args in tool_args.items()}
        branches.append(_branch(PARALLEL, _parallel_args(tool_args, join_args), thought))
    strict: dict[str, Any] = {"anyOf": branches}
    if defs.defs:
        strict["$defs"] = defs.defs
    names = [s.name for s in specs] + [FINAL_RESPONSE] + ([PARALLEL] if specs else [])
    generic: dict[str, Any] = {
        "type": "object",
        "properties": {
            "thought": {"type": "string"},
            "next_node": {"type": "string", "enum": names},
            "args": {"type": "object"},
        },
        "required": ["next_node", "args"],
    }
    return ActionSchemas(strict=strict, generic=generic)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref``s, and unwrap ``anyOf: [X, null]`` to ``X``."""
    for _ in range(32):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            schema = defs.get(ref.rsplit("/", 1)[-1], {})
            continue
        options = schema.get("anyOf")
        if isinstance(options, list):
            real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if len(real) == 1:
                schema = real[0]
                continue
        break
    return schema


def strip_optional_nulls(
    value: Any, schema: dict[str, Any], defs: dict[str, Any] | None = None
) -> Any:
    """Drop ``null`` values of properties that are optional in the original ``schema``.

    The strict schema makes optional arguments required-but-nullable (a requirement of
    strict structured output); dropping the ``null`` restores the tool's default.

    Args:
        value: the decoded arguments.
        schema: the tool's original (pydantic) args schema.
        defs: ``$defs`` of that schema (taken from ``schema`` when omitted).
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    schema = _resolve(schema, defs)
    if isinstance(value, list):
        items = schema.get("items")
        return (
            [strip_optional_nulls(v, items, defs) for v in value]
            if isinstance(items, dict)
            else value
        )
    if not isinstance(value, dict):
        return value
    props = schema.get("properties")
    if not isinstance(props, dict):
        return value
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None and key in props and key not in required:
            continue
        sub = props.get(key)
        out[key] = strip_optional_nulls(item, sub, defs) if isinstance(sub, dict) else item
    return out
