"""``@tool`` on plain typed functions: schemas from signatures, and clear errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from penguiflow import ModelRegistry, Node, NodePolicy, NodeSpec, build_catalog, tool
from penguiflow.errors import ConfigError, ToolSignatureError
from penguiflow.planner import ToolContext


class Weather(BaseModel):
    city: str
    celsius: float


@tool
async def get_weather(
    city: str,
    unit: Literal["C", "F"] = "C",
    days: Annotated[int, Field(ge=1, le=7, description="How many days ahead")] = 1,
) -> Weather:
    """Current weather of a city.

    Uses the national weather service; cached for a minute.

    Args:
        city: The city, for example "Paris".
            Case does not matter.
        unit: Degrees Celsius or Fahrenheit.
        days: Ignored: Annotated's description wins.
    """
    return Weather(city=city, celsius=21.0 if unit == "C" else 70.0)


def spec_of(func: Any) -> NodeSpec:
    return build_catalog([func])[0]


def test_the_args_schema_comes_from_the_signature_and_the_docstring() -> None:
    spec = spec_of(get_weather)
    schema = spec.args_schema
    assert spec.name == "get_weather"
    assert spec.desc == "Current weather of a city."
    assert schema["required"] == ["city"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["city"]["type"] == "string"
    assert props["city"]["description"] == 'The city, for example "Paris". Case does not matter.'
    assert props["unit"]["enum"] == ["C", "F"] and props["unit"]["default"] == "C"
    assert props["unit"]["description"] == "Degrees Celsius or Fahrenheit."
    assert props["days"]["description"] == "How many days ahead"
    assert (props["days"]["minimum"], props["days"]["maximum"]) == (1, 7)
    assert spec.out_model is Weather


async def test_the_decorated_function_is_still_a_plain_function() -> None:
    assert await get_weather("Oslo", unit="F") == Weather(city="Oslo", celsius=70.0)


def test_bare_and_configured_decorators_both_work() -> None:
    @tool(desc="Add two numbers", side_effects="read", tags=["math"])
    def add(a: int, b: int = 1) -> int:
        return a + b

    def undecorated(text: str) -> str:
        """Echo the text."""
        return text

    added, echoed = build_catalog([add, undecorated])
    assert (added.desc, added.side_effects, added.tags) == ("Add two numbers", "read", ("math",))
    assert echoed.desc == "Echo the text." and echoed.side_effects == "pure"
    assert added.args_schema["required"] == ["a"]


@pytest.mark.parametrize(
    ("annotation", "value", "dumped"),
    [
        (str, "sunny", "sunny"),
        (list[Weather], [Weather(city="a", celsius=1)], [{"city": "a", "celsius": 1.0}]),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (None, None, None),
    ],
)
def test_any_serialisable_return_type_becomes_the_result_model(
    annotation: Any, value: Any, dumped: Any
) -> None:
    async def produce(x: int) -> Any:
        return value

    produce.__annotations__["return"] = annotation
    spec = spec_of(produce)
    result = spec.out_model.model_validate(value)
    assert result.__pydantic_serializer__.to_python(result, mode="json") == dumped
    assert spec.out_schema["title"] == "ProduceResult"


def test_a_missing_return_annotation_accepts_any_json() -> None:
    async def anything(x: int):  # type: ignore[no-untyped-def]
        return {"x": x}

    assert spec_of(anything).out_model.model_validate({"x": 1}).model_dump() == {"x": 1}


def test_the_context_parameter_is_not_an_argument() -> None:
    async def with_ctx(query: str, ctx: ToolContext, limit: int = 3) -> str:
        return query

    async def optional_ctx(query: str, ctx: ToolContext | None = None) -> str:
        return query

    assert list(spec_of(with_ctx).args_schema["properties"]) == ["query", "limit"]
    assert list(spec_of(optional_ctx).args_schema["properties"]) == ["query"]


def test_parameters_named_like_model_attributes_keep_their_names() -> None:
    async def lookup(json: str, copy: bool = False, model_name: str = "m") -> str:
        return json

    spec = spec_of(lookup)
    assert list(spec.args_schema["properties"]) == ["json", "copy", "model_name"]
    args = spec.args_model.model_validate({"json": "x", "copy": True})
    assert args.model_dump(by_alias=True) == {"json": "x", "copy": True, "model_name": "m"}


class Args(BaseModel):
    x: int


class Out(BaseModel):
    y: int


def test_the_node_form_takes_the_model_itself() -> None:
    @tool(desc="Double x")
    async def double(args: Args, ctx: Any) -> Out:
        return Out(y=args.x * 2)

    spec = spec_of(double)
    assert (spec.args_model, spec.out_model, spec.node.func) == (Args, Out, double)
    # and from a Node, keeping its name and policy
    policy = NodePolicy(timeout_s=3)
    from_node = build_catalog([Node(double, name="twice", policy=policy)])[0]
    assert (from_node.name, from_node.node.policy, from_node.args_model) == ("twice", policy, Args)


def test_registered_models_still_win_for_nodes() -> None:
    async def untyped(args, ctx):  # type: ignore[no-untyped-def]
        return args

    registry = ModelRegistry()
    registry.register("untyped", Args, Out)
    spec = build_catalog([Node(untyped)], registry)[0]
    assert (spec.args_model, spec.out_model) == (Args, Out)
    with pytest.raises(ConfigError, match=r"has no models; call registry.register\('other'"):
        build_catalog([Node(untyped, name="other")], registry)


def test_tool_policy_is_the_node_policy() -> None:
    policy = NodePolicy(timeout_s=2, max_retries=1)

    @tool(policy=policy)
    async def slow(x: int) -> int:
        return x

    assert spec_of(slow).node.policy == policy
    with pytest.raises(ConfigError, match="must be a NodePolicy"):
        tool(policy={"timeout_s": 1})  # type: ignore[call-overload]


# -- errors that name the function, the parameter and the fix ----------------------------


def _untyped(city, days: int) -> str:  # type: ignore[no-untyped-def]
    return city


def _star_args(*cities: str) -> str:
    return ""


def _star_kwargs(city: str, **options: Any) -> str:
    return city


def _socket(conn: socket.socket) -> str:
    return ""


def _private(_secret: str) -> str:
    return _secret


def _two_contexts(a: ToolContext, b: ToolContext) -> str:
    return ""


def _generator(city: str) -> Iterator[str]:
    yield city


async def _async_generator(city: str) -> AsyncIterator[str]:
    yield city


def _unsupported_return(city: str) -> socket.socket:
    raise AssertionError


@pytest.mark.parametrize(
    ("func", "needles"),
    [
        (_untyped, ["_untyped", "'city' has no type annotation", "`city: str`"]),
        (_star_args, ["_star_args", "*cities is not supported", "typed parameter"]),
        (_star_kwargs, ["**options is not supported"]),
        (_socket, ["'conn' has type socket", "no JSON form", "tool_context"]),
        (_private, ["'_secret' starts with an underscore", "rename it"]),
        (_two_contexts, ["'a' and 'b' both ask for the tool context"]),
        (_generator, ["is a generator", "emit_chunk"]),
        (_async_generator, ["is a generator"]),
        (_unsupported_return, ["the return annotation has type socket"]),
        (Weather, ["a tool must be a function", "Weather"]),
    ],
)
def test_bad_signatures_are_refused_with_the_fix(func: Any, needles: list[str]) -> None:
    with pytest.raises(ToolSignatureError) as caught:
        NodeSpec.from_function(func, name="t")
    for needle in needles:
        assert needle in str(caught.value)
    assert isinstance(caught.value, TypeError)


def test_a_bad_signature_fails_when_decorated() -> None:
    with pytest.raises(ToolSignatureError, match="'city' has no type annotation"):

        @tool
        def broken(city) -> str:  # type: ignore[no-untyped-def]
            return str(city)


def test_an_annotation_that_cannot_be_resolved_says_where_to_define_it() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "async def later(city: str) -> Forecast:\n"
        "    return None\n",
        namespace,
    )
    with pytest.raises(ToolSignatureError, match=r"name 'Forecast' is not defined.*before the"):
        NodeSpec.from_function(namespace["later"])


def test_an_empty_desc_and_an_unknown_side_effect_are_refused() -> None:
    with pytest.raises(ConfigError, match="empty desc"):
        tool(desc="  ")
    with pytest.raises(ConfigError, match="side_effects"):
        tool(side_effects="destructive")  # type: ignore[call-overload]


def test_build_catalog_refuses_other_objects_and_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="takes tool functions and Nodes, got int"):
        build_catalog([3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="two tools are named 'get_weather'"):
        build_catalog([get_weather, get_weather])
