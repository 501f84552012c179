"""A planner on a local OpenAI-compatible server (llama-cpp-python shape), through litellm.

Replies recorded from llama-cpp-python 0.3.36 serving Gemma 3 270M
(``providers/llama_cpp_python.json``) answer a calculator agent over respx; the tests
check what reached the wire (the strict schema, not a weaker format), what the events
and metadata say was sent, the fallback when the server refuses a schema, and the
repair of replies cut off at ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import uvicorn

from penguiflow.catalog import NodeSpec, tool
from penguiflow.planner import llm as llm_module
from penguiflow.planner.errors import LLMTimeoutError
from penguiflow.planner.events import PlannerEvent
from penguiflow.planner.llm import LiteLLMClient, allow_model_requests
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.run_state import PlannerFinish

pytestmark = [
    pytest.mark.filterwarnings("ignore:Items? .* the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211:litellm"),
]

RECORDED = json.loads((Path(__file__).with_name("providers") / "llama_cpp_python.json").read_text())
MODEL = RECORDED["model"]
API_BASE = RECORDED["api_base"]
ENDPOINT = RECORDED["endpoint"]


@tool
async def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression."""
    left, right = expression.split("*")
    return float(int(left) * int(right))


def reply(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def refusal() -> httpx.Response:
    recorded = RECORDED["refuses_json_schema"]
    return reply(recorded["body"], recorded["status"])


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


def planner(events: list[PlannerEvent], tool_mode: str = "json", **client: Any) -> ReactPlanner:
    client.setdefault("api_base", API_BASE)
    llm = LiteLLMClient(MODEL, api_key="local", max_retries=0, **client)
    return ReactPlanner(
        llm_client=llm,
        catalog=[NodeSpec.from_function(calculate)],
        tool_mode=tool_mode,  # type: ignore[arg-type]
        event_callback=events.append,
        repair_attempts=2,
    )


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def formats(events: list[PlannerEvent], kind: str) -> list[Any]:
    return [event.extra.get("format") for event in events if event.event_type == kind]


async def test_the_strict_schema_reaches_a_server_at_api_base(wire: respx.MockRouter) -> None:
    route = wire.post(ENDPOINT).mock(side_effect=[reply(body) for body in RECORDED["json"]])
    events: list[PlannerEvent] = []
    async with planner(events) as agent:
        result = await agent.run("What is 17*23?")
        strict = agent.response_format
    assert isinstance(result, PlannerFinish) and result.payload is not None
    assert result.payload.raw_answer == "391"
    assert [body["response_format"] for body in sent(route)] == [strict, strict]
    assert strict is not None and strict["type"] == "json_schema"
    assert formats(events, "llm_request") == formats(events, "llm_response") == ["strict"] * 2
    assert result.metadata["usage"]["formats"] == {"strict": 2}
    assert result.metadata["repairs"]["format_fallbacks"] == 0


async def test_a_server_refusing_the_schema_gets_a_weaker_format_and_the_run_says_so(
    wire: respx.MockRouter,
) -> None:
    # llama-cpp-python without a shim answers a json_schema response_format with a 500
    route = wire.post(ENDPOINT).mock(
        side_effect=[refusal(), refusal(), *(reply(body) for body in RECORDED["json"])]
    )
    events: list[PlannerEvent] = []
    async with planner(events) as agent:
        result = await agent.run("What is 17*23?")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    kinds = [body["response_format"]["type"] for body in sent(route)]
    assert kinds == ["json_schema", "json_schema", "json_object", "json_object"]
    assert result.metadata["repairs"]["format_fallbacks"] == 2
    assert result.metadata["usage"]["formats"] == {"json_object": 2}
    assert formats(events, "llm_response") == ["json_object", "json_object"]
    assert any("rejected response_format 'strict'" in error for error in result.metadata["errors"])


async def test_a_client_that_weakens_the_format_is_reported_not_hidden(
    wire: respx.MockRouter,
) -> None:
    # No api_base and a model litellm does not know: the client can only send json_object.
    route = wire.post("https://api.openai.com/v1/chat/completions").mock(
        side_effect=[reply(body) for body in RECORDED["json"]]
    )
    events: list[PlannerEvent] = []
    async with planner(events, api_base=None) as agent:
        result = await agent.run("What is 17*23?")
    assert [body["response_format"] for body in sent(route)] == [{"type": "json_object"}] * 2
    assert formats(events, "llm_request") == ["strict", "strict"]  # what the planner asked
    assert formats(events, "llm_response") == ["json_object", "json_object"]  # what was sent
    assert result.metadata["usage"]["formats"] == {"json_object": 2}
    assert [e for e in result.metadata["errors"] if "instead of the 'strict'" in e] != []


async def test_a_reply_cut_off_at_max_tokens_is_retried_shorter_not_repeated(
    wire: respx.MockRouter,
) -> None:
    route = wire.post(ENDPOINT).mock(
        side_effect=[reply(RECORDED["cut_off"]), *(reply(body) for body in RECORDED["json"])]
    )
    events: list[PlannerEvent] = []
    async with planner(events, max_tokens=24) as agent:
        result = await agent.run("What is 17*23?")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    first, retry = sent(route)[:2]
    assert retry["messages"][: len(first["messages"])] == first["messages"]
    echoed, instruction = retry["messages"][len(first["messages"]) :]
    assert echoed["role"] == "assistant" and echoed["content"].endswith("[cut off]")
    assert instruction["role"] == "user" and "cut off at the token limit" in instruction["content"]
    assert "shorter" in instruction["content"] and "Unterminated" not in instruction["content"]
    repairs = [e for e in events if e.event_type == "repair_attempt"]
    assert repairs and "finish_reason 'length'" in (repairs[0].error or "")
    finish_reasons = [
        e.extra.get("finish_reason") for e in events if e.event_type == "llm_response"
    ]
    assert finish_reasons[0] == "length"


async def test_replies_cut_off_every_time_end_the_run_saying_so(wire: respx.MockRouter) -> None:
    wire.post(ENDPOINT).mock(return_value=reply(RECORDED["cut_off"]))
    events: list[PlannerEvent] = []
    async with planner(events, max_tokens=24) as agent:
        result = await agent.run("What is 17*23?")
    assert isinstance(result, PlannerFinish) and result.reason == "no_path"
    error = result.metadata["error"]
    assert "cut off at the token limit" in error and "raise the client's max_tokens" in error


async def test_native_tool_arguments_cut_off_ask_for_shorter_arguments(
    wire: respx.MockRouter,
) -> None:
    route = wire.post(ENDPOINT).mock(
        side_effect=[
            reply(RECORDED["native_cut_off"]),
            *(reply(body) for body in RECORDED["native"]),
            reply(
                {
                    **RECORDED["native"][0],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "391"},
                            "finish_reason": "stop",
                        }
                    ],
                }
            ),
        ]
    )
    events: list[PlannerEvent] = []
    async with planner(events, tool_mode="native", max_tokens=16) as agent:
        result = await agent.run("What is 17*23?")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert result.metadata["steps"][0]["observation"] == 391.0
    retry = sent(route)[1]["messages"]
    assert "tool_calls" not in retry[-2]  # the broken call is not sent back as a call
    assert "cut off at the token limit" in retry[-1]["content"]


class OneAtATimeServer:
    """A real HTTP server on 127.0.0.1 that generates one reply at a time, like llama.cpp.

    A generation holds the server until the test lets it finish, and carries on after
    the client has gone away, as a local server does.
    """

    def __init__(self) -> None:
        self.arrived = 0
        self.finished = asyncio.Event()
        self._busy = asyncio.Lock()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.api_base = ""

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.arrived += 1
        async with self._busy:
            await self.finished.wait()
        body = json.dumps(RECORDED["json"][1]).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __aenter__(self) -> OneAtATimeServer:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen()  # connections wait in the backlog until uvicorn accepts them
        config = uvicorn.Config(self._app, log_level="error", interface="asgi3", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[listening]))
        self.api_base = f"http://127.0.0.1:{listening.getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.finished.set()
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


async def _no_wait(delay: float) -> None:
    return None


@pytest.mark.parametrize(("retry_timeouts", "requests"), [(None, 1), (True, 3)])
async def test_a_timed_out_call_is_not_queued_again_behind_itself(
    retry_timeouts: bool | None, requests: int
) -> None:
    async with OneAtATimeServer() as server:
        llm = LiteLLMClient(
            MODEL,
            api_base=server.api_base,
            api_key="local",
            timeout_s=0.2,
            max_retries=2,
            retry_timeouts=retry_timeouts,
            sleep=_no_wait,
        )
        with pytest.raises(LLMTimeoutError) as info:
            await llm.complete(messages=[{"role": "user", "content": "What is 17*23?"}])
        # By default (api_base set) the abandoned generation is not joined by retries.
        assert server.arrived == requests and info.value.attempts == requests
        if retry_timeouts is None:
            assert "not retried" in str(info.value) and "raise timeout_s" in str(info.value)
