"""One small agent through the real LiteLLMClient against recorded provider wire formats.

litellm -> httpx -> respx: each provider's recorded replies (``providers/*.json``) answer
the agent in native and JSON mode; the tests check the answer and what reached the wire
(the tools, every tool call paired with its result, the JSON constraint), and that the
providers' error answers become the planner's typed errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import respx
from provider_fixtures import (
    FIXTURES,
    PROVIDERS,
    Provider,
    asks_for_json,
    errors,
    history,
    load,
    offered_tools,
    response,
    sse,
)
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner
from penguiflow.planner import errors as planner_errors
from penguiflow.planner import llm as llm_module
from penguiflow.planner.llm import allow_model_requests

pytestmark = [
    # litellm's own TypedDicts warn when its Gemini and streaming code load; not ours to fix.
    pytest.mark.filterwarnings("ignore:Items? .* the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211:litellm"),
]

QUERY = "Is it warmer in Paris or Rome? Give the warmer one in Fahrenheit."
ANSWER = "Rome is warmer: 24°C, which is 75.2°F."
TOOLS = ["get_weather", "to_fahrenheit"]


class City(BaseModel):
    city: str


class Weather(BaseModel):
    city: str
    celsius: float


class Celsius(BaseModel):
    celsius: float


class Fahrenheit(BaseModel):
    fahrenheit: float


@tool(desc="Current temperature of a city, in Celsius", side_effects="read")
async def get_weather(args: City, ctx: Any) -> Weather:
    return Weather(city=args.city, celsius={"Paris": 18.0, "Rome": 24.0}[args.city])


@tool(desc="Convert Celsius to Fahrenheit")
async def to_fahrenheit(args: Celsius, ctx: Any) -> Fahrenheit:
    return Fahrenheit(fahrenheit=round(args.celsius * 9 / 5 + 32, 1))


def agent(provider: Provider, tool_mode: str, **kwargs: Any) -> ReactPlanner:
    """The weather agent: two tools, a real LiteLLMClient."""
    registry = ModelRegistry()
    registry.register("get_weather", City, Weather)
    registry.register("to_fahrenheit", Celsius, Fahrenheit)
    client = kwargs.pop("client", None) or provider.client()
    return ReactPlanner(
        llm_client=client,
        nodes=[Node(get_weather, name="get_weather"), Node(to_fahrenheit, name="to_fahrenheit")],
        registry=registry,
        tool_mode=tool_mode,  # type: ignore[arg-type]
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _httpx_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # litellm defaults to an aiohttp transport, which respx cannot see.
    monkeypatch.setattr(llm_module._litellm(), "disable_aiohttp_transport", True)
    with allow_model_requests():
        yield


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def check_native_wire(provider: Provider, sent: list[dict[str, Any]]) -> None:
    """Tools offered, no JSON constraint, and every call answered with its own result."""
    made = provider.reply_calls("native")
    for index, body in enumerate(sent):
        assert offered_tools(provider.name, body) == TOOLS
        assert not asks_for_json(provider.name, body)
        calls, results = history(provider.name, body)
        expected = [call for reply in made[:index] for call in reply]
        if provider.name == "gemini":  # no ids on Gemini's wire: calls pair by name and order
            assert calls == [(None, name) for _, name in expected]
        else:  # the provider's own ids go back with each result
            assert calls == expected
        assert [call for call, _ in results] == calls
        if provider.name == "anthropic":  # results of one turn travel in one user message
            turns = [m for m in body["messages"] if _has_results(m)]
            assert [len(m["content"]) for m in turns] == [len(r) for r in made[:index]]
    _, final_results = history(provider.name, sent[-1])
    assert any("75.2" in text for _, text in final_results)


def _has_results(message: dict[str, Any]) -> bool:
    content = message["content"]
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def check_json_wire(provider: Provider, sent: list[dict[str, Any]]) -> None:
    """JSON constraint, no tools, observations as text."""
    for body in sent:
        assert offered_tools(provider.name, body) == []
        assert asks_for_json(provider.name, body)
        assert history(provider.name, body) == ([], [])
    assert "found" not in json.dumps(sent[0])  # nothing observed before the first step
    assert '\\"celsius\\":24.0' in json.dumps(sent[1]) or '"celsius":24.0' in json.dumps(sent[1])
    assert "75.2" in json.dumps(sent[2])


@pytest.mark.parametrize("tool_mode", ["native", "json"])
@pytest.mark.parametrize("name", PROVIDERS)
async def test_the_agent_answers_through_each_provider(
    wire: respx.MockRouter, name: str, tool_mode: str
) -> None:
    provider = load(name)
    route = wire.post(provider.endpoint).mock(
        side_effect=[response(body) for body in provider.replies[tool_mode]]
    )
    events: list[PlannerEvent] = []
    client = provider.client(json_schema=True) if name == "local" else None
    async with agent(provider, tool_mode, client=client, event_callback=events.append) as planner:
        result = await planner.run(QUERY)
    assert isinstance(result, PlannerFinish)
    assert result.reason == "answer_complete", result.metadata
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    observed = [s["observation"] for s in result.metadata["steps"]]
    assert {"fahrenheit": 75.2} in observed
    sent = bodies(route)
    assert len(sent) == len(provider.replies[tool_mode])
    if tool_mode == "native":
        check_native_wire(provider, sent)
    else:
        check_json_wire(provider, sent)
    usage = result.metadata["usage"]
    assert usage["calls"] == len(sent) and usage["total_tokens"] > 0
    assert [s["usage"]["calls"] for s in result.metadata["steps"]] == [1] * len(observed)
    if name != "local":  # litellm knows the prices of the hosted models (offline cost map)
        assert usage["cost_usd"] > 0
        assert all(s["usage"]["cost_usd"] > 0 for s in result.metadata["steps"])
    finish = next(e for e in events if e.event_type == "finish")
    assert finish.extra["usage"] == usage


@pytest.mark.parametrize("tool_mode", ["native", "json"])
async def test_openai_streaming_with_tool_call_deltas(
    wire: respx.MockRouter, tool_mode: str
) -> None:
    provider = load("openai")
    route = wire.post(provider.endpoint).mock(
        side_effect=[sse(chunks) for chunks in provider.streams[tool_mode]]
    )
    events: list[PlannerEvent] = []
    async with agent(
        provider, tool_mode, event_callback=events.append, stream_final_response=True
    ) as planner:
        result = await planner.run(QUERY)
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    sent = bodies(route)
    assert all(body["stream"] is True for body in sent)
    if tool_mode == "native":  # the calls were rebuilt from the deltas, ids included
        check_native_wire(provider, sent)
    chunks = [e for e in events if e.event_type == "stream_chunk"]
    assert "".join(c.text or "" for c in chunks) == ANSWER
    assert chunks[-1].done
    assert result.metadata["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("name", PROVIDERS)
async def test_auto_mode_asks_litellm_per_model(wire: respx.MockRouter, name: str) -> None:
    provider = load(name)
    # litellm knows the hosted models handle tool calls; the local model is unknown to it
    expected = "json" if name == "local" else "native"
    route = wire.post(provider.endpoint).mock(
        side_effect=[response(body) for body in provider.replies[expected]]
    )
    async with agent(provider, "auto") as planner:
        result = await planner.run(QUERY)
        assert planner.tool_mode == expected
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    assert bool(offered_tools(name, bodies(route)[0])) is (expected == "native")


@pytest.mark.parametrize("case", errors(), ids=lambda case: f"{case['provider']}-{case['name']}")
async def test_provider_errors_become_typed_planner_errors(
    wire: respx.MockRouter, case: dict[str, Any]
) -> None:
    provider = load(case["provider"])
    wire.post(provider.endpoint).mock(
        return_value=response(case["body"], case["status"], case["headers"])
    )
    events: list[PlannerEvent] = []
    expected = getattr(planner_errors, case["expect"])
    async with agent(provider, "native", event_callback=events.append) as planner:
        with pytest.raises(expected) as caught:
            await planner.run(QUERY)
    assert type(caught.value) is expected
    assert "sk-test-0000" not in str(caught.value)
    assert events[-1].event_type == "finish" and events[-1].extra["reason"] == "error"


async def test_a_rate_limit_is_waited_out_then_the_run_goes_on(wire: respx.MockRouter) -> None:
    provider = load("openai")
    [limited] = [c for c in errors() if c["provider"] == "openai" and c["status"] == 429]
    route = wire.post(provider.endpoint).mock(
        side_effect=[
            response(limited["body"], 429, limited["headers"]),
            *(response(body) for body in provider.replies["native"]),
        ]
    )
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    client = provider.client(max_retries=2, max_backoff=30.0, sleep=sleep)
    async with agent(provider, "native", client=client) as planner:
        result = await planner.run(QUERY)
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    assert waits == [20.0]  # the provider's retry-after
    assert route.call_count == 4


async def test_malformed_arguments_go_back_to_the_model(wire: respx.MockRouter) -> None:
    provider = load("openai")
    assert provider.malformed is not None
    route = wire.post(provider.endpoint).mock(
        side_effect=[response(provider.malformed)]
        + [response(body) for body in provider.replies["native"]]
    )
    async with agent(provider, "native") as planner:
        result = await planner.run(QUERY)
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    assert result.metadata["repairs"]["llm_repairs"] == 1
    _, results = history("openai", bodies(route)[1])
    [(call, text)] = results
    assert call == ("call_Mf0rMeDaRgS1x2y3z4A5b6C7", "get_weather")
    assert "not valid JSON" in text and '{"city": "Par' in text


async def test_arguments_a_local_model_botched_are_repaired_locally(
    wire: respx.MockRouter,
) -> None:
    provider = load("local")
    assert provider.malformed is not None
    route = wire.post(provider.endpoint).mock(
        side_effect=[response(provider.malformed)]
        + [response(body) for body in provider.replies["native"][1:]]
    )
    async with agent(provider, "native") as planner:
        result = await planner.run(QUERY)
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    repairs = result.metadata["repairs"]
    assert repairs["local_repairs"] == 1 and repairs["llm_repairs"] == 0
    assert repairs["fixes"] == {"tool_arguments": 1, "trailing_commas": 1}
    calls, _ = history("local", bodies(route)[1])
    assert calls == [("Mf9xK2cV4bN6mQ8wE0rT2yU4iO6pA8sD", "get_weather")]


async def test_a_server_refusing_tools_falls_back_to_json_actions(
    wire: respx.MockRouter,
) -> None:
    provider = load("local")
    [refusal] = [c for c in errors() if c["name"] == "tools_need_jinja"]
    route = wire.post(provider.endpoint).mock(
        side_effect=[response(refusal["body"], refusal["status"])]
        + [response(body) for body in provider.replies["json"]]
    )
    client = provider.client(tool_calling=True, json_schema=True)  # the user says it can
    async with agent(provider, "auto", client=client) as planner:
        result = await planner.run(QUERY)
        assert planner.tool_mode == "json"  # remembered for this model
    assert result.payload is not None and result.payload.raw_answer == ANSWER
    assert result.metadata["repairs"]["format_fallbacks"] == 1
    sent = bodies(route)
    assert offered_tools("local", sent[0]) == TOOLS and not offered_tools("local", sent[1])
    assert sent[1]["response_format"]["type"] == "json_schema"


def test_every_fixture_is_a_documented_shape() -> None:
    """The fixtures name their reference and hold both dialects."""
    for name in PROVIDERS:
        data = json.loads((FIXTURES / f"{name}.json").read_text())
        assert data["reference"].startswith("https://")
        assert len(data["native"]) >= 3 and len(data["json"]) == 3
    assert {case["provider"] for case in errors()} == set(PROVIDERS)
