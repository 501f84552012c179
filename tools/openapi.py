"""Import HTTP operations from an OpenAPI 3 document.

Each operation with an ``operationId`` becomes an :class:`HttpOperation` whose arguments
are its path, query and header parameters plus its JSON request body. An object body is
flattened into the arguments when its property names do not clash with a parameter (and
the method takes a body); otherwise it is one ``body`` argument. ``$ref``s into
``#/components`` are resolved: schemas move to the argument schema's ``$defs``, so
recursive schemas keep working. OpenAPI 3.0 idioms (``nullable``, boolean
``exclusiveMinimum``) are turned into JSON Schema.

The document's ``servers`` are never used: requests go to the config's ``base_url`` only.
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config import RESERVED_HEADERS, HttpOperation
from .errors import ToolConfigError

__all__ = ["load_openapi", "operations_from_openapi", "read_openapi"]

log = logging.getLogger("penguiflow.tools.openapi")

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_PATH_PARAM = re.compile(r"\{([^}]*)\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DROP = frozenset({"nullable", "discriminator", "xml", "externalDocs", "example"})
_MAX_DESC = 1000


class _Skip(Exception):
    """An operation that cannot be imported; the message says why."""


def _parse(text: str, where: str) -> dict[str, Any]:
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            data = json.loads(text)
        else:
            try:
                yaml: Any = importlib.import_module("yaml")
            except ImportError:
                raise ToolConfigError(
                    f"the OpenAPI document {where} is YAML, which needs PyYAML: pip install "
                    "pyyaml (or use the JSON form)"
                ) from None
            data = yaml.safe_load(text)
    except ToolConfigError:
        raise
    except Exception as exc:  # json/yaml syntax errors
        raise ToolConfigError(f"the OpenAPI document {where} cannot be parsed: {exc}") from None
    return _check_document(data, where)


def _check_document(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3."):
        raise ToolConfigError(
            f"the OpenAPI document {where} must be an OpenAPI 3.x object with an 'openapi: "
            "3.x' field (Swagger 2.0 is not supported; convert it first)"
        )
    if not isinstance(data.get("paths", {}), dict):
        raise ToolConfigError(f"the OpenAPI document {where} has no 'paths' object")
    return data


def load_openapi(source: str | Path | Mapping[str, Any], *, max_bytes: int) -> dict[str, Any]:
    """Return the OpenAPI document from a parsed mapping or a local file (JSON or YAML).

    Raises:
        ToolConfigError: unreadable, too large, unparsable or not OpenAPI 3.
    """
    if isinstance(source, Mapping):
        return _check_document(copy.deepcopy(dict(source)), "given as a dict")
    file = Path(source)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise ToolConfigError(
                f"the OpenAPI document {str(file)!r} is {size} bytes, over "
                f"max_openapi_bytes={max_bytes}"
            )
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolConfigError(f"cannot read the OpenAPI document {str(file)!r}: {exc}") from None
    return _parse(text, repr(str(file)))


async def read_openapi(
    source: str | Mapping[str, Any], *, max_bytes: int, timeout_s: float
) -> dict[str, Any]:
    """Like :func:`load_openapi`, and also downloads ``http(s)://`` URLs (no redirects).

    Raises:
        ToolConfigError: the document cannot be read, downloaded or parsed.
    """
    if isinstance(source, Mapping) or not source.startswith(("http://", "https://")):
        return load_openapi(source, max_bytes=max_bytes)
    import httpx

    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
        try:
            async with client.stream("GET", source) as response:
                if response.status_code != 200:
                    raise ToolConfigError(
                        f"downloading the OpenAPI document {source!r} answered HTTP "
                        f"{response.status_code} (redirects are not followed); fix openapi="
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise ToolConfigError(
                            f"the OpenAPI document {source!r} is over max_openapi_bytes={max_bytes}"
                        )
        except httpx.HTTPError as exc:
            raise ToolConfigError(
                f"cannot download the OpenAPI document {source!r}: {type(exc).__name__}"
            ) from None
    return _parse(body.decode("utf-8", errors="replace"), repr(source))


class _Refs:
    """Resolves ``$ref``s of one document and collects the schemas they name."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._doc = document
        self.defs: dict[str, Any] = {}

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise _Skip(f"external $ref {ref!r} is not supported")
        node: Any = self._doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise _Skip(f"$ref {ref!r} points nowhere")
            node = node[part]
        return node

    def deref(self, node: Any, depth: int = 0) -> Any:
        """Follow a non-schema ``$ref`` (parameters, request bodies)."""
        while isinstance(node, dict) and "$ref" in node:
            if depth > 16:
                raise _Skip("a $ref chain is too long")
            node, depth = self.lookup(node["$ref"]), depth + 1
        return node

    def schema(self, node: Any) -> Any:
        """Return ``node`` as JSON Schema, component refs rewritten to ``#/$defs/...``."""
        if isinstance(node, list):
            return [self.schema(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            prefix = "#/components/schemas/"
            if not ref.startswith(prefix):
                return self.schema(self.lookup(ref))
            name = ref[len(prefix) :]
            if name not in self.defs:
                self.defs[name] = {}  # placeholder first: recursive schemas terminate
                self.defs[name] = self.schema(self.lookup(ref))
            return {"$ref": f"#/$defs/{name}"}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: self.schema(v) for k, v in value.items()}
            else:
                out[key] = self.schema(value)
        if node.get("nullable") is True:
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            elif kind is None and "enum" not in out:
                out = {"anyOf": [out, {"type": "null"}]}
        for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
            if out.get(exclusive) is True and bound in out:
                out[exclusive] = out.pop(bound)
            elif out.get(exclusive) is False:
                out.pop(exclusive)
        return out


def _tool_name(operation_id: str) -> str:
    name = _NAME_CHARS.sub("_", operation_id)
    return name if name[:1].isalpha() else f"op_{name}"


def _param_schema(param: dict[str, Any], refs: _Refs) -> dict[str, Any]:
    schema = param.get("schema")
    if schema is None:
        content = param.get("content")
        if isinstance(content, dict) and content:
            schema = next(iter(content.values())).get("schema")
    out = refs.schema(schema) if isinstance(schema, dict) else {}
    if param.get("description") and "description" not in out:
        out["description"] = str(param["description"])
    return dict(out)


def _json_body(operation: dict[str, Any], refs: _Refs) -> tuple[dict[str, Any] | None, bool]:
    body = refs.deref(operation.get("requestBody"))
    if not isinstance(body, dict):
        return None, False
    required = bool(body.get("required"))
    content = body.get("content") or {}
    for mime, media in content.items():
        base = str(mime).split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            schema = refs.deref(media.get("schema")) if isinstance(media, dict) else None
            return (refs.schema(schema) if isinstance(schema, dict) else {}), required
    if required:
        raise _Skip(f"the request body is not JSON ({', '.join(map(str, content)) or 'none'})")
    return None, False


def _writable(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop ``readOnly`` properties: a client never sends them."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return schema
    kept = {k: v for k, v in props.items() if not (isinstance(v, dict) and v.get("readOnly"))}
    out = {**schema, "properties": kept}
    if "required" in schema:
        out["required"] = [r for r in schema["required"] if r in kept]
    return out


def _operation(
    path: str, method: str, item: dict[str, Any], operation: dict[str, Any], refs: _Refs
) -> HttpOperation:
    for name in _PATH_PARAM.findall(path):
        if not _IDENT.match(name):
            raise _Skip(f"the path parameter {name!r} is not an identifier")
    params = _Params()
    params.add_all(item, operation, refs)
    upper = method.upper()
    body_param = params.add_body(upper, operation, refs)
    schema: dict[str, Any] = {"type": "object", "properties": params.properties}
    if params.required:
        schema["required"] = list(dict.fromkeys(params.required))
    schema["additionalProperties"] = False
    if refs.defs:
        schema["$defs"] = refs.defs
    summary = str(operation.get("summary") or "").strip()
    detail = str(operation.get("description") or "").strip()
    text = ". ".join(p.rstrip(".") for p in (summary, detail) if p)
    return HttpOperation(
        name=_tool_name(str(operation["operationId"])),
        method=upper,
        path=path,
        description=(text[:_MAX_DESC] + "...") if len(text) > _MAX_DESC else text,
        args_schema=schema,
        query=tuple(params.query),
        header_params=tuple(params.headers),
        body_param=body_param,
    )


class _Params:
    """The tool arguments of one operation: its parameters, then its JSON body."""

    def __init__(self) -> None:
        self.properties: dict[str, Any] = {}
        self.required: list[str] = []
        self.query: list[str] = []
        self.headers: list[str] = []

    def add_all(self, item: dict[str, Any], operation: dict[str, Any], refs: _Refs) -> None:
        """Add the path item's and the operation's parameters (the latter win)."""
        params: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
            param = refs.deref(raw)
            if isinstance(param, dict) and "name" in param and "in" in param:
                params[(str(param["name"]), str(param["in"]))] = param
        for (name, where), param in params.items():
            self._add(name, where, param, refs)

    def _add(self, name: str, where: str, param: dict[str, Any], refs: _Refs) -> None:
        if where == "cookie" or (where == "header" and name.lower() in RESERVED_HEADERS):
            if param.get("required"):
                raise _Skip(f"the required {where} parameter {name!r} cannot be sent")
            return
        if name in self.properties:
            raise _Skip(f"two parameters are named {name!r}")
        self.properties[name] = _param_schema(param, refs)
        if where == "path" or param.get("required"):
            self.required.append(name)
        if where == "query":
            self.query.append(name)
        elif where == "header":
            self.headers.append(name)

    def add_body(self, method: str, operation: dict[str, Any], refs: _Refs) -> str | None:
        """Add the JSON body: its fields as arguments when flat, else one argument.

        Returns:
            The name of the argument holding the whole body, if it is one.
        """
        body, body_required = _json_body(operation, refs)
        if body is None:
            return None
        body = _writable(body)
        props = body.get("properties")
        flat = (
            method in _BODY_METHODS
            and body.get("type", "object") == "object"
            and isinstance(props, dict)
            and not set(props) & set(self.properties)
            and not any(k in body for k in ("allOf", "anyOf", "oneOf", "$ref"))
        )
        if flat and isinstance(props, dict):
            self.properties.update(props)
            if body_required:
                self.required.extend(r for r in body.get("required", ()) if r in props)
            return None
        body_param = "body" if "body" not in self.properties else "request_body"
        self.properties[body_param] = body
        if body_required:
            self.required.append(body_param)
        return body_param


def operations_from_openapi(
    document: Mapping[str, Any], *, select: Callable[[str], bool] | None = None
) -> list[HttpOperation]:
    """Build one :class:`HttpOperation` per operation that has an ``operationId``.

    The tool name is the ``operationId`` with characters other than letters, digits, ``_``
    and ``-`` replaced by ``_``. Operations that cannot be called safely (a required
    cookie or non-JSON body, external ``$ref``s) are skipped with a warning on the
    ``penguiflow.tools.openapi`` logger.

    Args:
        document: the parsed OpenAPI 3 document.
        select: keeps only the tool names it returns ``True`` for (the allowlist); the
            others are not even converted.
    """
    doc = dict(document)
    found: list[HttpOperation] = []
    for path, item in (doc.get("paths") or {}).items():
        item = _Refs(doc).deref(item) if isinstance(item, dict) else None
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict) or not operation.get("operationId"):
                continue
            name = _tool_name(str(operation["operationId"]))
            if select is not None and not select(name):
                continue
            try:
                found.append(_operation(str(path), method, item, operation, _Refs(doc)))
            except (_Skip, ValueError) as exc:
                log.warning("OpenAPI operation %r (%s %s) skipped: %s", name, method, path, exc)
    return found
