"""Tools from typed functions: the models and the ``(args, ctx)`` call the planner runs.

Two shapes are read:

* the **plain form**, ``async def get_weather(city: str, unit: Literal["C", "F"] = "C")
  -> Weather``: the arguments model is built from the parameters (defaults,
  ``Annotated[..., Field(...)]``, the docstring's ``Args:`` section), the result model
  from the return annotation (a pydantic model as is, any other type wrapped in a
  ``RootModel``);
* the **node form**, ``async def tool(args: ArgsModel, ctx) -> Out``: the function takes
  the validated model itself.

A parameter annotated with the planner's ``ToolContext`` receives the call's context.
The runtime does not import the planner: it recognises the context type by the
:data:`CONTEXT_MARKER` attribute that ``ToolContext`` carries. Sync functions run in a
worker thread (``asyncio.to_thread``); that is decided once, here.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter, create_model
from pydantic.errors import PydanticUserError
from pydantic.fields import FieldInfo

from ._docstrings import parse_docstring
from ._typing import NodeFunc
from .errors import ToolSignatureError

__all__ = [
    "CONTEXT_MARKER",
    "ToolParts",
    "function_summary",
    "is_context_type",
    "is_node_form",
    "tool_parts",
]

CONTEXT_MARKER = "__penguiflow_tool_context__"
"""Class attribute (``True``) of the type whose parameter receives the tool context."""

_ARGS_CONFIG = ConfigDict(extra="forbid", protected_namespaces=())
_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True, slots=True)
class ToolParts:
    """What a typed function becomes in the catalog.

    Attributes:
        call: ``async def call(args, ctx)``: the node function (the function itself for an
            async node-form tool).
        args_model: the validated arguments.
        out_model: the result (a ``RootModel`` for a non-model return type).
    """

    call: NodeFunc
    args_model: type[BaseModel]
    out_model: type[BaseModel]


def is_context_type(annotation: Any) -> bool:
    """Whether a parameter with this annotation receives the tool context.

    The context type itself, or it or ``None`` (``ctx: ToolContext | None = None``).
    """
    if isinstance(annotation, type):
        return getattr(annotation, CONTEXT_MARKER, False) is True
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType)
        or (typing.get_origin(annotation) is typing.Union)
        else ()
    )
    others = [m for m in members if m is not type(None)]
    return len(others) == 1 and is_context_type(others[0])


def function_summary(func: Any) -> str:
    """The first paragraph of a function's docstring, on one line (``""`` without one)."""
    return parse_docstring(_doc(func)).summary


def _doc(func: Any) -> str | None:
    if inspect.isfunction(func) or inspect.ismethod(func):
        return func.__doc__
    return None


def _label(func: Any) -> str:
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or func)


def _is_async(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _signature(func: Any, *, strict: bool) -> inspect.Signature:
    label = _label(func)
    if not callable(func) or inspect.isclass(func):
        raise ToolSignatureError(
            f"a tool must be a function (or a callable object), got {label!r} "
            f"({type(func).__name__})"
        )
    if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
        raise ToolSignatureError(
            f"tool {label!r} is a generator; a tool returns one result (stream progress "
            "with `await ctx.emit_chunk(text)` from a `ctx: ToolContext` parameter)"
        )
    try:
        return inspect.signature(func, eval_str=True)
    except NameError as exc:
        if not strict:
            return inspect.signature(func)
        raise ToolSignatureError(
            f"tool {label!r}: cannot read its type annotations ({exc}); import or define "
            "that name at module level before the function (annotations are read when "
            "the tool is built, not under `if TYPE_CHECKING:`)"
        ) from None
    except (TypeError, ValueError) as exc:
        raise ToolSignatureError(f"tool {label!r}: cannot read its signature: {exc}") from None


def _may_be_model(annotation: Any) -> bool:
    if annotation is _P.empty or isinstance(annotation, str):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _may_be_context(annotation: Any) -> bool:
    return (
        annotation in (_P.empty, Any)
        or isinstance(annotation, str)
        or (is_context_type(annotation))
    )


def is_node_form(func: Any) -> bool:
    """Whether ``func`` is ``(args: ArgsModel, ctx)``: it takes the validated model itself.

    Exactly two required positional parameters, the first a pydantic model (or not
    annotated), the second the context (annotated ``ToolContext`` or ``Any``, or not
    annotated).
    """
    try:
        params = list(_signature(func, strict=False).parameters.values())
    except ToolSignatureError:
        return False
    if len(params) != 2 or any(
        p.kind not in _POSITIONAL or p.default is not _P.empty for p in params
    ):
        return False
    return _may_be_model(params[0].annotation) and _may_be_context(params[1].annotation)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace(".", "_").split("_"))


def _has_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)


def _check_type(label: str, what: str, annotation: Any) -> None:
    try:
        TypeAdapter(annotation).json_schema()
    except PydanticUserError as exc:
        shown = getattr(annotation, "__name__", None) or repr(annotation)
        raise ToolSignatureError(
            f"tool {label!r}: {what} has type {shown}, which has no JSON form "
            f"({type(exc).__name__}); use JSON types (str, int, float, bool, list, dict, "
            "Literal, a pydantic model...), and pass other objects through "
            "`tool_context` (read it from a `ctx: ToolContext` parameter)"
        ) from None


def _field(param: inspect.Parameter, doc: str | None, alias: str | None) -> FieldInfo:
    default = param.default
    if isinstance(default, FieldInfo):
        info = copy.copy(default)
        if doc and info.description is None and not _has_description(param.annotation):
            info.description = doc
        if alias is not None:
            info.alias = info.validation_alias = info.serialization_alias = alias
        return info
    value = ... if default is _P.empty else default
    extra: dict[str, Any] = {}
    if doc and not _has_description(param.annotation):
        extra["description"] = doc
    if alias is not None:
        extra["alias"] = alias
    field: FieldInfo = Field(value, **extra)
    return field


@dataclass(slots=True)
class _Reading:
    """The parameters of a plain-form function, sorted out."""

    fields: dict[str, Any]
    names: list[tuple[str, str]]  # (parameter, model field)
    positional_only: list[str]
    context: str | None = None


def _read_params(func: Any, sig: inspect.Signature, label: str) -> _Reading:
    docs = parse_docstring(_doc(func)).args
    reading = _Reading({}, [], [])
    for param in sig.parameters.values():
        name = param.name
        if param.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            star = "*" if param.kind is _P.VAR_POSITIONAL else "**"
            raise ToolSignatureError(
                f"tool {label!r}: {star}{name} is not supported; the model calls a tool with "
                f"named arguments: list each one as a typed parameter (`{name}: list[str]` "
                "for a list)"
            )
        if param.annotation is _P.empty:
            raise ToolSignatureError(
                f"tool {label!r}: parameter {name!r} has no type annotation; annotate it "
                f"(`{name}: str`, or `{name}: Any` for any JSON value) so the model knows "
                "what to send"
            )
        if param.kind is _P.POSITIONAL_ONLY:
            reading.positional_only.append(name)
        if is_context_type(param.annotation):
            if reading.context is not None:
                raise ToolSignatureError(
                    f"tool {label!r}: parameters {reading.context!r} and {name!r} both ask "
                    "for the tool context; keep one"
                )
            reading.context = name
            continue
        if name.startswith("_"):
            raise ToolSignatureError(
                f"tool {label!r}: parameter {name!r} starts with an underscore, which a "
                "pydantic model cannot hold as a field; rename it"
            )
        _check_type(label, f"parameter {name!r}", param.annotation)
        shadows = hasattr(BaseModel, name)
        field_name = f"{name}_" if shadows else name
        info = _field(param, docs.get(name), name if shadows else None)
        reading.fields[field_name] = (param.annotation, info)
        reading.names.append((name, field_name))
    return reading


def _out_model(label: str, name: str, annotation: Any) -> type[BaseModel]:
    if annotation is _P.empty:
        annotation = Any
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    _check_type(label, "the return annotation", annotation)
    model: type[BaseModel] = create_model(f"{_camel(name)}Result", __base__=RootModel[annotation])
    return model


def _plain_call(func: Any, reading: _Reading) -> NodeFunc:
    names = tuple(reading.names)
    context = reading.context
    positional = tuple(reading.positional_only)
    is_async = _is_async(func)

    async def call(args: Any, ctx: Any) -> Any:
        values = {param: getattr(args, field) for param, field in names}
        if context is not None:
            values[context] = ctx
        leading = [values.pop(name) for name in positional]
        if is_async:
            return await func(*leading, **values)
        return await asyncio.to_thread(func, *leading, **values)

    return call


def _node_form_parts(func: Any, name: str, label: str) -> ToolParts:
    sig = _signature(func, strict=True)
    first = next(iter(sig.parameters.values()))
    model = first.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ToolSignatureError(
            f"tool {label!r} needs a pydantic model as its first parameter's annotation "
            f"(`async def {name}(args: ArgsModel, ctx) -> Result`), or typed parameters "
            f"(`async def {name}(city: str) -> Result`)"
        )
    out_model = _out_model(label, name, sig.return_annotation)
    if _is_async(func):
        return ToolParts(func, model, out_model)

    async def call(args: Any, ctx: Any) -> Any:
        return await asyncio.to_thread(func, args, ctx)

    return ToolParts(call, model, out_model)


def tool_parts(func: Callable[..., Any], name: str) -> ToolParts:
    """Read a tool function (plain or node form) into its models and node function.

    Args:
        func: the tool function (sync or async).
        name: the tool's name (models are named after it).

    Raises:
        ToolSignatureError: a parameter without annotation, ``*args``/``**kwargs``, a type
            with no JSON form, an unresolvable annotation; the message names the function,
            the parameter and the fix.
    """
    label = _label(func)
    if is_node_form(func):
        return _node_form_parts(func, name, label)
    sig = _signature(func, strict=True)
    reading = _read_params(func, sig, label)
    try:
        args_model: type[BaseModel] = create_model(
            f"{_camel(name)}Args", __config__=_ARGS_CONFIG, **reading.fields
        )
        args_model.model_json_schema()
    except PydanticUserError as exc:
        raise ToolSignatureError(
            f"tool {label!r}: its parameters do not form a model: {exc}"
        ) from None
    out_model = _out_model(label, name, sig.return_annotation)
    return ToolParts(_plain_call(func, reading), args_model, out_model)
