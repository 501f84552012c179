"""LiteLLMClient against a respx-mocked OpenAI-compatible HTTP API (no network)."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from penguiflow.errors import ConfigError, RunError, UsageError
from penguiflow.planner import llm as llm_module
from penguiflow.planner._llm_errors import classify, redact, retry_after_seconds
from penguiflow.planner.errors import (
    LLMAuthError,
    LLMBadRequestError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMResponseFormatError,
    LLMTimeoutError,
    LLMUnavailableError,
    ModelRequestsBlockedError,
)
from penguiflow.planner.llm import LiteLLMClient, allow_model_requests
from penguiflow.planner.llm_types import LLMClient, LLMResponse, Usage

# litellm's stream handler trips two pydantic warnings about litellm's own types; they say
# nothing about PenguiFlow and would fail every streaming test under `-W error`.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211:litellm"),
]

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"
KEY = "sk-test-DUMMYKEY0123456789"
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "action",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"next_node": {"type": "string"}},
            "required": ["next_node"],
            "additionalProperties": False,
        },
    },
}


def completion(content: Any = "hello", **extra: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    body.update(extra)
    return body


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message}}, headers=headers or {})


def sse(parts: list[str]) -> httpx.Response:
    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": "s1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return "data: " + json.dumps(chunk)

    lines = [event({"role": "assistant", "content": ""})]
    lines += [event({"content": part}) for part in parts]
    lines.append(event({}, "stop"))
    usage = {
        "id": "s1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    lines += ["data: " + json.dumps(usage), "data: [DONE]"]
    return httpx.Response(
        200, text="\n\n".join(lines) + "\n\n", headers={"content-type": "text/event-stream"}
    )


@pytest.fixture(autouse=True)
def _httpx_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # litellm defaults to an aiohttp transport, which respx cannot see.
    litellm = llm_module._litellm()
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)
    with allow_model_requests():
        yield


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(sleeps: Sleeps | None = None, **kwargs: Any) -> LiteLLMClient:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("max_backoff", 1.0)
    if sleeps is not None:
        kwargs["sleep"] = sleeps
    return LiteLLMClient(MODEL, api_base=BASE, api_key=KEY, **kwargs)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


async def test_success_returns_text_usage_cost_and_model(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, json=completion("hello")))
    llm = client()
    assert isinstance(llm, LLMClient)

    reply = await llm.complete(messages=MESSAGES)

    assert isinstance(reply, LLMResponse)
    assert reply.text == "hello"
    assert reply.usage == Usage(prompt_tokens=11, completion_tokens=3, total_tokens=14)
    assert reply.model == "gpt-4o-mini"
    assert reply.cost_usd is not None and reply.cost_usd > 0
    body = sent(route)
    assert body["messages"] == MESSAGES
    assert body["model"] == "gpt-4o-mini"
    assert "response_format" not in body and "stream" not in body
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


async def test_json_schema_response_format_is_sent_as_is(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, json=completion("{}")))
    await client().complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)
    assert sent(route)["response_format"] == SCHEMA_FORMAT


@pytest.mark.parametrize(
    ("model", "json_schema", "expected"),
    [
        (MODEL, False, {"type": "json_object"}),
        # api_base: the server enforces the schema or refuses it; never silently weakened
        ("openai/my-local-model", None, SCHEMA_FORMAT),
        ("openai/my-local-model", True, SCHEMA_FORMAT),
    ],
)
async def test_response_format_follows_model_support(
    api: respx.MockRouter, model: str, json_schema: bool | None, expected: dict[str, Any]
) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, json=completion("{}")))
    llm = LiteLLMClient(model, api_base=BASE, api_key=KEY, json_schema=json_schema)
    reply = await llm.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)
    assert sent(route)["response_format"] == expected
    assert reply.format_sent == expected["type"]


async def test_an_unknown_model_without_api_base_gets_json_object_and_says_so(
    api: respx.MockRouter,
) -> None:
    route = api.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion("{}"))
    )
    llm = LiteLLMClient("openai/my-fine-tune", api_key=KEY)
    reply = await llm.complete(messages=MESSAGES, response_format=SCHEMA_FORMAT)
    assert sent(route)["response_format"] == {"type": "json_object"}
    assert reply.format_sent == "json_object"
    plain = await llm.complete(messages=MESSAGES)
    assert "response_format" not in sent(route) and plain.format_sent == "none"


async def test_429_with_retry_after_waits_then_succeeds(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(
        side_effect=[
            error(429, "slow down", {"retry-after": "0.25"}),
            httpx.Response(200, json=completion("ok")),
        ]
    )
    reply = await client(sleeps).complete(messages=MESSAGES)
    assert reply.text == "ok"
    assert route.call_count == 2
    assert sleeps.delays == [0.25]


async def test_retry_after_ms_header_is_preferred(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.post(URL).mock(
        side_effect=[
            error(429, "slow", {"retry-after-ms": "40", "retry-after": "9"}),
            httpx.Response(200, json=completion("ok")),
        ]
    )
    await client(sleeps).complete(messages=MESSAGES)
    assert sleeps.delays == [pytest.approx(0.04)]


async def test_retry_after_longer_than_max_backoff_gives_up(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(return_value=error(429, "quota", {"retry-after": "120"}))
    with pytest.raises(LLMRateLimitError) as info:
        await client(sleeps, max_backoff=5.0).complete(messages=MESSAGES)
    assert route.call_count == 1 and sleeps.delays == []
    assert info.value.retry_after == 120.0
    assert info.value.attempts == 1
    assert "max_backoff=5.0" in str(info.value)


async def test_rate_limit_exhausted(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.post(URL).mock(return_value=error(429, "slow", {"retry-after": "0.01"}))
    with pytest.raises(LLMRateLimitError) as info:
        await client(sleeps, max_retries=3).complete(messages=MESSAGES)
    assert route.call_count == 4
    assert info.value.attempts == 4 and info.value.status_code == 429
    assert sleeps.delays == [0.01, 0.01, 0.01]


async def test_500s_exhausted_raise_unavailable_with_attempts(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(return_value=error(500, "boom"))
    with pytest.raises(LLMUnavailableError) as info:
        await client(sleeps, max_retries=2, backoff_base=0.1).complete(messages=MESSAGES)
    err = info.value
    assert route.call_count == 3
    assert (err.attempts, err.status_code, err.model) == (3, 500, MODEL)
    assert isinstance(err, RunError) and isinstance(err, LLMError)
    assert err.__cause__ is not None and type(err.__cause__).__module__.startswith("litellm")
    # exponential backoff with jitter in [0.5, 1] of 0.1, then 0.2
    assert len(sleeps.delays) == 2
    assert 0.05 <= sleeps.delays[0] <= 0.1 and 0.1 <= sleeps.delays[1] <= 0.2


async def test_backoff_is_capped_by_max_backoff(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.post(URL).mock(return_value=error(502, "bad gateway"))
    with pytest.raises(LLMUnavailableError):
        await client(sleeps, max_retries=4, backoff_base=1.0, max_backoff=1.5).complete(
            messages=MESSAGES
        )
    assert len(sleeps.delays) == 4
    assert all(0.5 <= delay <= 1.5 for delay in sleeps.delays)
    assert all(0.75 <= delay for delay in sleeps.delays[1:])


async def test_503_then_success(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.post(URL).mock(
        side_effect=[error(503, "overloaded"), httpx.Response(200, json=completion("back"))]
    )
    assert (await client(sleeps).complete(messages=MESSAGES)).text == "back"
    assert len(sleeps.delays) == 1


async def test_auth_error_is_not_retried_and_never_shows_the_key(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(return_value=error(401, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(LLMAuthError) as info:
        await client(sleeps).complete(messages=MESSAGES)
    err = info.value
    assert route.call_count == 1 and sleeps.delays == []
    assert err.status_code == 401
    for text in (
        str(err),
        repr(err),
        json.dumps(err.to_dict()),
        str(pickle.loads(pickle.dumps(err))),
    ):
        assert KEY not in text
    assert "***" in err.message


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "max_tokens is too large", LLMBadRequestError),
        (400, "Invalid schema for response_format 'action': bad", LLMResponseFormatError),
        (404, "model not found", LLMBadRequestError),
        (403, "forbidden", LLMAuthError),
        (422, "unprocessable", LLMBadRequestError),
    ],
)
async def test_client_errors_are_not_retried(
    api: respx.MockRouter, sleeps: Sleeps, status: int, message: str, expected: type[LLMError]
) -> None:
    route = api.post(URL).mock(return_value=error(status, message))
    with pytest.raises(expected) as info:
        await client(sleeps).complete(messages=MESSAGES)
    assert type(info.value) is expected
    assert route.call_count == 1 and sleeps.delays == []
    assert info.value.status_code == status and info.value.attempts == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="this is not json"),
        httpx.Response(200, json={"foo": 1}),
        httpx.Response(200, json=completion(choices=[])),
        httpx.Response(200, json=completion(None)),
    ],
    ids=["not-json", "no-choices-key", "empty-choices", "null-content"],
)
async def test_malformed_body_raises_response_error_without_retry(
    api: respx.MockRouter, sleeps: Sleeps, response: httpx.Response
) -> None:
    route = api.post(URL).mock(return_value=response)
    with pytest.raises(LLMResponseError) as info:
        await client(sleeps).complete(messages=MESSAGES)
    assert route.call_count == 1 and sleeps.delays == []
    assert info.value.attempts == 1 and info.value.status_code is None


async def test_transport_timeout_is_retried_then_typed(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(LLMTimeoutError) as info:
        await client(sleeps, max_retries=1, retry_timeouts=True).complete(messages=MESSAGES)
    assert isinstance(info.value, TimeoutError)
    assert route.call_count == 2 and info.value.attempts == 2


async def test_a_timeout_is_not_retried_by_default_with_api_base(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(LLMTimeoutError) as info:
        await client(sleeps, max_retries=3).complete(messages=MESSAGES)
    assert route.call_count == 1 and info.value.attempts == 1 and sleeps.delays == []
    assert "not retried" in str(info.value) and "raise timeout_s" in str(info.value)


async def test_per_call_timeout_cuts_a_hung_provider(api: respx.MockRouter, sleeps: Sleeps) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json=completion())

    api.post(URL).mock(side_effect=hang)
    with pytest.raises(LLMTimeoutError) as info:
        await client(sleeps, timeout_s=0.05, max_retries=0).complete(messages=MESSAGES)
    assert started.is_set() and info.value.attempts == 1


async def test_connection_error_is_retried(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.post(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=completion("up"))]
    )
    assert (await client(sleeps).complete(messages=MESSAGES)).text == "up"
    assert route.call_count == 2 and len(sleeps.delays) == 1


async def test_connection_errors_exhausted(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(LLMUnavailableError) as info:
        await client(sleeps, max_retries=1).complete(messages=MESSAGES)
    assert info.value.attempts == 2 and info.value.status_code is None


async def test_outside_cancellation_propagates(api: respx.MockRouter) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json=completion())

    api.post(URL).mock(side_effect=hang)
    task = asyncio.create_task(client().complete(messages=MESSAGES))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_streaming_delivers_chunks_in_order(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=sse(["Hel", "lo ", "wor", "ld"]))
    seen: list[tuple[str, bool]] = []

    reply = await client().complete(
        messages=MESSAGES, stream=True, on_stream_chunk=lambda text, done: seen.append((text, done))
    )

    assert seen == [("Hel", False), ("lo ", False), ("wor", False), ("ld", False), ("", True)]
    assert reply.text == "Hello world"
    assert reply.usage == Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8)
    assert reply.cost_usd is not None and reply.cost_usd > 0
    body = sent(route)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_streaming_with_async_callback_and_schema(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=sse(['{"next_node":', ' "x"}']))
    seen: list[str] = []

    async def on_chunk(text: str, done: bool) -> None:
        await asyncio.sleep(0)
        seen.append("<done>" if done else text)

    reply = await client().complete(
        messages=MESSAGES, response_format=SCHEMA_FORMAT, stream=True, on_stream_chunk=on_chunk
    )
    assert seen == ['{"next_node":', ' "x"}', "<done>"]
    assert json.loads(reply.text) == {"next_node": "x"}
    assert sent(route)["response_format"] == SCHEMA_FORMAT


async def test_streaming_retries_a_failure_before_the_first_chunk(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(URL).mock(side_effect=[error(500, "boom"), sse(["ok"])])
    seen: list[tuple[str, bool]] = []
    reply = await client(sleeps).complete(
        messages=MESSAGES, stream=True, on_stream_chunk=lambda t, d: seen.append((t, d))
    )
    assert reply.text == "ok" and seen == [("ok", False), ("", True)]
    assert route.call_count == 2


async def test_streaming_callback_error_propagates_unchanged(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=sse(["a", "b"]))

    def on_chunk(text: str, done: bool) -> None:
        raise KeyError("ui went away")

    with pytest.raises(KeyError, match="ui went away"):
        await client().complete(messages=MESSAGES, stream=True, on_stream_chunk=on_chunk)
    assert route.call_count == 1


async def test_blocked_model_requests_make_no_http_call(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, json=completion()))
    with allow_model_requests(False):
        with pytest.raises(ModelRequestsBlockedError) as info:
            await client().complete(messages=MESSAGES)
        assert llm_module.ALLOW_MODEL_REQUESTS is False
    assert llm_module.ALLOW_MODEL_REQUESTS is True
    assert route.call_count == 0
    assert isinstance(info.value, UsageError)
    assert "allow_model_requests" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout_s": 0}, "timeout_s must be > 0"),
        ({"timeout_s": float("nan")}, "timeout_s must be > 0"),
        ({"max_retries": -1}, "max_retries must be an int >= 0"),
        ({"backoff_base": -0.1}, "backoff_base must be >= 0"),
        ({"backoff_base": 2.0, "max_backoff": 1.0}, "max_backoff must be >= backoff_base"),
        ({"timeout": 5}, "use timeout_s="),
        ({"num_retries": 5}, "use max_retries="),
        ({"messages": []}, "messages are given to complete"),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LiteLLMClient(MODEL, **kwargs)


def test_empty_model_is_rejected() -> None:
    with pytest.raises(ConfigError, match="model string"):
        LiteLLMClient("  ")


def test_from_spec() -> None:
    assert LiteLLMClient.from_spec(MODEL).model == MODEL
    built = LiteLLMClient.from_spec({"model": MODEL, "timeout_s": 5.0, "temperature": 0.2})
    assert built.model == MODEL and "temperature" in repr(built)
    with pytest.raises(ConfigError, match="needs a 'model' key"):
        LiteLLMClient.from_spec({"temperature": 0.2})
    with pytest.raises(ConfigError, match="model string or a dict"):
        LiteLLMClient.from_spec(42)  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    text = repr(LiteLLMClient(MODEL, api_key=KEY, extra_headers_token="tok-123456", api_base=BASE))
    assert KEY not in text and "tok-123456" not in text
    assert BASE in text and "'***'" in text


def test_errors_pickle_with_their_fields() -> None:
    err = LLMRateLimitError("slow", model=MODEL, attempts=3, retry_after=1.5)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is LLMRateLimitError
    assert copy.fields() == err.fields() and copy.message == "slow"
    timeout = pickle.loads(pickle.dumps(LLMTimeoutError("slow", model=MODEL, attempts=2)))
    assert isinstance(timeout, TimeoutError) and timeout.attempts == 2
    blocked = pickle.loads(pickle.dumps(ModelRequestsBlockedError(MODEL)))
    assert blocked.model == MODEL


def test_redact_removes_key_shaped_strings_and_given_secrets() -> None:
    text = redact(
        "key sk-abcdefghijkl and Bearer abc.def-123456 and api_key=zzzzzzzz and mine-1234",
        ["mine-1234"],
    )
    assert "sk-abcdefghijkl" not in text and "abc.def-123456" not in text
    assert "zzzzzzzz" not in text and "mine-1234" not in text
    assert "Bearer ***" in text


def test_retry_after_http_date() -> None:
    class Fake(Exception):
        litellm_response_headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})

    assert retry_after_seconds(Fake()) == 0.0
    assert retry_after_seconds(Exception()) is None


def test_unknown_exception_is_a_plain_llm_error() -> None:
    failure = classify(RuntimeError("weird"))
    assert failure.error_type is LLMError and not failure.retryable


@pytest.fixture
async def anthropic_api() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def test_second_provider_classifies_5xx_and_malformed(
    anthropic_api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = anthropic_api.post("http://anthropic.test/v1/messages")
    llm = LiteLLMClient(
        "anthropic/claude-3-5-haiku-20241022",
        api_base="http://anthropic.test",
        api_key=KEY,
        max_retries=1,
        backoff_base=0.01,
        sleep=sleeps,
    )
    route.mock(return_value=error(500, "boom"))
    with pytest.raises(LLMUnavailableError):
        await llm.complete(messages=MESSAGES)
    assert route.call_count == 2
    route.mock(return_value=httpx.Response(200, text="not json"))
    with pytest.raises(LLMResponseError):
        await llm.complete(messages=MESSAGES)
    assert route.call_count == 3


def test_importing_the_module_does_not_import_litellm() -> None:
    code = "import sys, penguiflow.planner.llm; print('litellm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_tool_calling_comes_from_litellms_table_or_the_caller() -> None:
    assert LiteLLMClient(MODEL).tool_calling is True
    assert LiteLLMClient("openai/my-local-model", api_base=BASE).tool_calling is False
    assert LiteLLMClient("openai/my-local-model", tool_calling=True).tool_calling is True
    assert LiteLLMClient(MODEL, tool_calling=False).tool_calling is False
    with pytest.raises(ConfigError, match="tool_mode='native'"):
        LiteLLMClient(MODEL, tools=[])


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "tools is not supported in this model", "LLMToolCallingError"),
        (400, '"auto" tool choice requires --enable-auto-tool-choice', "LLMToolCallingError"),
        (500, "tools param requires --jinja flag", "LLMToolCallingError"),
        (400, "registry.ollama.ai/library/gemma:2b does not support tools", "LLMToolCallingError"),
        # one bad tool message is the caller's bug, not a refusal of tool calling
        (
            400,
            "Invalid parameter: messages with role 'tool' must be a response to a preceding "
            "message with 'tool_calls'.",
            "LLMBadRequestError",
        ),
        (
            400,
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy.",
            "LLMContentFilterError",
        ),
    ],
)
async def test_tool_refusals_and_content_filters_are_told_apart(
    api: respx.MockRouter, sleeps: Sleeps, status: int, message: str, expected: str
) -> None:
    from penguiflow.planner import errors as planner_errors

    route = api.post(URL).mock(return_value=error(status, message))
    with pytest.raises(LLMError) as info:
        await client(sleeps).complete(
            messages=MESSAGES, tools=[{"type": "function", "function": {"name": "f"}}]
        )
    assert type(info.value) is getattr(planner_errors, expected)
    assert route.call_count == 1 and sleeps.delays == []  # none of them is retried


async def test_tool_calls_and_their_text_are_read(api: respx.MockRouter) -> None:
    body = completion(
        "Checking.",
        choices=[
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"q": "x"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    )
    route = api.post(URL).mock(return_value=httpx.Response(200, json=body))
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    reply = await client().complete(messages=MESSAGES, tools=tools, tool_choice="required")
    assert reply.text == "Checking."
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_1", "search", '{"q": "x"}')
    ]
    assert sent(route)["tools"] == tools and sent(route)["tool_choice"] == "required"
    # tools=None (JSON mode) sends neither
    api.post(URL).mock(return_value=httpx.Response(200, json=completion("{}")))
    await client().complete(messages=MESSAGES, tools=None, tool_choice="auto")
    assert "tools" not in sent(route) and "tool_choice" not in sent(route)


async def test_a_model_without_its_api_key_is_an_auth_error_that_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    route = api.post(url__regex=r".*").mock(return_value=httpx.Response(500))
    with pytest.raises(LLMAuthError) as info:
        await LiteLLMClient(MODEL, max_retries=2).complete(messages=MESSAGES)
    assert "no API key for the provider" in info.value.message
    assert "OPENAI_API_KEY" in info.value.message
    assert route.call_count == 0  # refused before any request, and not retried
