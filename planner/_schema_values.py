"""Derive a value that satisfies a JSON schema (as pydantic writes them) for TestLLM.

Covers what tool argument models produce: scalar types with bounds, ``multipleOf``,
lengths, common string formats and simple regex patterns, ``enum``/``const``, arrays
(``items``, ``prefixItems``, ``minItems``/``maxItems``, ``uniqueItems``), objects
(``properties``, ``required``, ``additionalProperties``, ``propertyNames``), ``$ref``
into ``$defs``, ``anyOf``/``oneOf``/``allOf`` and recursive models (optional parts
are dropped past a depth limit). Values are deterministic for a given seed.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Mapping
from typing import Any

from ._regex_sample import sample_pattern

_MAX_DEPTH = 4
_FORMATS: dict[str, str] = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "multi-host-uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "ipvanyaddress": "192.0.2.1",
    "ipv4interface": "192.0.2.1/24",
    "ipv6interface": "2001:db8::1/64",
    "ipvanyinterface": "192.0.2.1/24",
    "ipv4network": "192.0.2.0/24",
    "ipv6network": "2001:db8::/64",
    "ipvanynetwork": "192.0.2.0/24",
    "path": "data.txt",
    "file-path": "data.txt",
    "directory-path": ".",
    "binary": "data",
    "base64": "ZGF0YQ==",
    "base64url": "ZGF0YQ==",
    "password": "secret",
    "color": "white",
}
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


class UnsatisfiableSchemaError(ValueError):
    """No value could be derived for part of a schema."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path or "<root>"
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def sample_value(schema: Mapping[str, Any] | bool, *, seed: int | str = 0) -> Any:
    """Return a value valid for ``schema``, the same one for the same ``seed``.

    Raises:
        UnsatisfiableSchemaError: a required part of the schema is out of reach (for
            example a regex pattern too complex to sample).
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _Sampler(root, random.Random(str(seed))).value(schema, "", 0, 0)


class _Sampler:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, ref: str, path: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise UnsatisfiableSchemaError(path, f"only local $ref are supported, got {ref!r}")
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise UnsatisfiableSchemaError(path, f"$ref {ref!r} does not resolve")
            node = node[part]
        if not isinstance(node, Mapping):
            raise UnsatisfiableSchemaError(path, f"$ref {ref!r} is not a schema")
        return node

    def value(self, schema: Mapping[str, Any] | bool, path: str, depth: int, variant: int) -> Any:
        if schema is True:
            return _WORDS[variant % len(_WORDS)]
        if schema is False or not isinstance(schema, Mapping):
            raise UnsatisfiableSchemaError(path, "the schema accepts no value")
        if "$ref" in schema:
            target = self.resolve(str(schema["$ref"]), path)
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, path, depth + 1, variant)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise UnsatisfiableSchemaError(path, "the enum is empty")
            return options[(self.rng.randrange(len(options)) + variant) % len(options)]
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                sub = self.resolve(part["$ref"], path) if "$ref" in part else part
                merged = _merge(merged, sub)
            return self.value(merged, path, depth, variant)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.choice(schema[key], path, depth, variant)
        kind = self.kind(schema)
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise UnsatisfiableSchemaError(path, f"unknown type {kind!r}")
        return handler(schema, path, depth, variant)

    def kind(self, schema: Mapping[str, Any]) -> Any:
        """The JSON type to produce: the one given (one of them, for a list), or inferred."""
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            return kinds[self.rng.randrange(len(kinds))]
        if kind is not None:
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def choice(self, branches: list[Any], path: str, depth: int, variant: int) -> Any:
        def is_null(branch: Any) -> bool:
            return isinstance(branch, Mapping) and branch.get("type") == "null"

        concrete = [b for b in branches if not is_null(b)]
        if depth >= _MAX_DEPTH and len(concrete) < len(branches):
            return None
        if not concrete:
            return None
        # pydantic lists the main type first (Decimal is number | string): try in order.
        last: UnsatisfiableSchemaError | None = None
        for branch in concrete:
            try:
                return self.value(branch, path, depth, variant)
            except UnsatisfiableSchemaError as exc:
                last = exc
        if len(concrete) < len(branches):
            return None
        raise last or UnsatisfiableSchemaError(path, "no branch of the union can be satisfied")

    def _null(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        return None

    def _boolean(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        return (self.rng.random() < 0.5) ^ bool(variant % 2)

    def _integer(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        low, high = _int_bounds(schema)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-low // step) * step
            count = (high - first) // step + 1
            if count <= 0:
                raise UnsatisfiableSchemaError(path, f"no multiple of {step} in [{low}, {high}]")
            return first + step * ((self.rng.randrange(min(count, 10)) + variant) % count)
        if low > high:
            raise UnsatisfiableSchemaError(path, f"no integer in [{low}, {high}]")
        span = min(high - low, 100)
        return low + (self.rng.randint(0, span) + variant) % (span + 1)

    def _number(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0 and not isinstance(step, bool):
            low, high = _int_bounds(schema, scale=float(step))
            if low > high:
                raise UnsatisfiableSchemaError(path, f"no multiple of {step} in range")
            k = low + (self.rng.randint(0, min(high - low, 10)) + variant) % (
                min(high - low, 10) + 1
            )
            return round(k * step, 12) if isinstance(step, float) else k * step
        low_f, low_open, high_f, high_open = _float_bounds(schema)
        if low_f is None and high_f is None:
            return round(self.rng.uniform(0, 100), 2) + variant
        if low_f is None:
            low_f = (high_f or 0.0) - 100.0
        if high_f is None:
            high_f = low_f + 100.0
        if low_f > high_f or (low_f == high_f and (low_open or high_open)):
            raise UnsatisfiableSchemaError(path, f"no number in [{low_f}, {high_f}]")
        if low_f == high_f:
            return low_f
        candidate = round(low_f + (high_f - low_f) * self.rng.uniform(0.1, 0.9), 3)
        if _inside(candidate, low_f, low_open, high_f, high_open):
            return candidate
        return (low_f + high_f) / 2

    def _string(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        min_len = int(schema.get("minLength", 0))
        max_len = schema.get("maxLength")
        max_len = int(max_len) if max_len is not None else None
        if max_len is not None and max_len < min_len:
            raise UnsatisfiableSchemaError(path, f"maxLength {max_len} < minLength {min_len}")
        if schema.get("format") == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if schema.get("format") == "json-string" or "contentSchema" in schema:
            inner = schema.get("contentSchema", True)
            return json.dumps(self.value(inner, path, depth + 1, variant))
        pattern = schema.get("pattern")
        if pattern is not None:
            found = sample_pattern(str(pattern), min_len, max_len, self.rng, variant)
            if found is None:
                raise UnsatisfiableSchemaError(
                    path, f"cannot derive a string matching pattern {pattern!r}"
                )
            return found
        text = _FORMATS.get(str(schema.get("format")), "")
        if not text:
            text = _WORDS[(self.rng.randrange(len(_WORDS)) + variant) % len(_WORDS)]
            if variant:
                text = f"{text}{variant}"
        if len(text) < min_len:
            text = (text * (min_len // max(1, len(text)) + 1))[:min_len]
        if max_len is not None and len(text) > max_len:
            text = text[:max_len]
        return text

    def _array(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", True if not prefix else False)
        min_items = int(schema.get("minItems", 0))
        max_items = schema.get("maxItems")
        wanted = max(min_items, len(prefix) if items is False else 1)
        if depth >= _MAX_DEPTH:
            wanted = max(min_items, len(prefix))
        if max_items is not None:
            wanted = min(wanted, int(max_items))
        if items is False and wanted > len(prefix):
            raise UnsatisfiableSchemaError(path, "minItems exceeds the fixed tuple length")
        result: list[Any] = []
        for index in range(wanted):
            sub = prefix[index] if index < len(prefix) else items
            result.append(self.value(sub, f"{path}[{index}]", depth + 1, variant + index))
        if schema.get("uniqueItems"):
            seen = {json.dumps(item, sort_keys=True) for item in result}
            if len(seen) != len(result):
                raise UnsatisfiableSchemaError(path, "cannot derive enough distinct items")
        return result

    def _object(self, schema: Mapping[str, Any], path: str, depth: int, variant: int) -> Any:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            where = f"{path}.{name}" if path else name
            if name in required:
                result[name] = self.value(sub, where, depth + 1, variant)
            elif depth < _MAX_DEPTH:
                try:
                    result[name] = self.value(sub, where, depth + 1, variant)
                except UnsatisfiableSchemaError:
                    continue
        extra = schema.get("additionalProperties")
        names = schema.get("propertyNames")
        # Without propertyNames the key type is unknown (dict[int, X] looks like
        # dict[str, X]): digit strings suit both; add entries only when asked to.
        wanted = int(schema.get("minProperties", 0))
        if names is not None and not properties:
            wanted = max(wanted, 1)
        if names is None:
            names = {"type": "string", "pattern": "^[1-9][0-9]*$"}
        if isinstance(extra, Mapping) and depth < _MAX_DEPTH:
            for index in range(max(0, wanted - len(result))):
                key = self.value(names, f"{path}<key>", depth + 1, variant + index)
                result[str(key)] = self.value(extra, f"{path}[{key!r}]", depth + 1, variant)
        return result


def _merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(left)
    for key, value in right.items():
        if key == "properties" and key in merged:
            merged[key] = {**merged[key], **value}
        elif key == "required" and key in merged:
            merged[key] = sorted(set(merged[key]) | set(value))
        else:
            merged[key] = value
    return merged


def _int_bounds(schema: Mapping[str, Any], scale: float = 1.0) -> tuple[int, int]:
    """Integer bounds of ``value / scale`` (scale > 0) under the schema's limits."""
    low: int | None = None
    high: int | None = None
    if "minimum" in schema:
        low = math.ceil(schema["minimum"] / scale)
    if "exclusiveMinimum" in schema:
        bound = schema["exclusiveMinimum"] / scale
        candidate = math.floor(bound) + 1
        low = candidate if low is None else max(low, candidate)
    if "maximum" in schema:
        high = math.floor(schema["maximum"] / scale)
    if "exclusiveMaximum" in schema:
        bound = schema["exclusiveMaximum"] / scale
        candidate = math.ceil(bound) - 1
        high = candidate if high is None else min(high, candidate)
    if low is None:
        return (0, 100) if high is None else (high - 100, high)
    return (low, low + 100) if high is None else (low, high)


def _float_bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    low: float | None = None
    low_open = False
    high: float | None = None
    high_open = False
    if "minimum" in schema:
        low = float(schema["minimum"])
    if "exclusiveMinimum" in schema and (low is None or schema["exclusiveMinimum"] >= low):
        low, low_open = float(schema["exclusiveMinimum"]), True
    if "maximum" in schema:
        high = float(schema["maximum"])
    if "exclusiveMaximum" in schema and (high is None or schema["exclusiveMaximum"] <= high):
        high, high_open = float(schema["exclusiveMaximum"]), True
    return low, low_open, high, high_open


def _inside(value: float, low: float, low_open: bool, high: float, high_open: bool) -> bool:
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below
