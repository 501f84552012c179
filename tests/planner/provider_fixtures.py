"""Recorded provider wire formats (``providers/*.json``) and how to read their requests.

Each fixture holds, for one provider, the replies of a small weather agent written in
that provider's documented response format: ``native`` (tool calls), ``json`` (a JSON
action in the text), optional ``*_stream`` SSE chunks, and a reply whose tool-call
arguments are malformed. ``errors.json`` holds error answers with the planner error each
must become. The readers below take a request body as the provider receives it (after
litellm translated it) and return what the tests compare across providers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from penguiflow.planner.llm import LiteLLMClient

FIXTURES = Path(__file__).with_name("providers")
PROVIDERS = ("openai", "anthropic", "gemini", "local")

Call = tuple[str | None, str]
"""``(call id, tool name)``; Gemini has no ids on the wire."""


@dataclass(frozen=True)
class Provider:
    """One provider's recorded replies.

    Attributes:
        name: ``openai``, ``anthropic``, ``gemini`` or ``local``.
        model: the litellm model string.
        api_base: where the client sends requests.
        endpoint: the URL the requests reach.
        replies: the agent's replies per ``tool_mode`` (``native``, ``json``).
        streams: SSE chunks per ``tool_mode``, one list per reply (OpenAI only).
        malformed: a reply whose tool-call arguments are not valid JSON, if recorded.
    """

    name: str
    model: str
    api_base: str
    endpoint: str
    replies: dict[str, list[dict[str, Any]]]
    streams: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    malformed: dict[str, Any] | None = None

    def client(self, **kwargs: Any) -> LiteLLMClient:
        """A real LiteLLMClient for this provider (no retries unless asked)."""
        kwargs.setdefault("max_retries", 0)
        return LiteLLMClient(self.model, api_base=self.api_base, api_key="sk-test-0000", **kwargs)

    def reply_calls(self, tool_mode: str) -> list[list[Call]]:
        """The tool calls of each recorded reply, as the provider sent them."""
        return [reply_calls(self.name, body) for body in self.replies[tool_mode]]


def load(name: str) -> Provider:
    """Load ``providers/<name>.json``."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return Provider(
        name=name,
        model=data["model"],
        api_base=data["api_base"],
        endpoint=data["endpoint"],
        replies={"native": data["native"], "json": data["json"]},
        streams={
            mode: data[f"{mode}_stream"] for mode in ("native", "json") if f"{mode}_stream" in data
        },
        malformed=data.get("malformed_arguments"),
    )


def errors() -> list[dict[str, Any]]:
    """The recorded error answers, each with the planner error it must become."""
    loaded: list[dict[str, Any]] = json.loads((FIXTURES / "errors.json").read_text())
    return loaded


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A recorded JSON answer."""
    return httpx.Response(status, json=body, headers=headers or {})


def sse(chunks: list[dict[str, Any]]) -> httpx.Response:
    """A recorded stream, as OpenAI sends it (``data:`` lines, then ``[DONE]``)."""
    lines = [f"data: {json.dumps(chunk)}" for chunk in chunks] + ["data: [DONE]"]
    return httpx.Response(
        200, text="\n\n".join(lines) + "\n\n", headers={"content-type": "text/event-stream"}
    )


# -- reading what the providers received -----------------------------------------------


def offered_tools(provider: str, body: dict[str, Any]) -> list[str]:
    """The names of the functions a request offers."""
    tools = body.get("tools") or []
    if provider == "anthropic":
        return [tool["name"] for tool in tools]
    if provider == "gemini":
        return [f["name"] for tool in tools for f in tool.get("function_declarations", [])]
    return [tool["function"]["name"] for tool in tools]


def asks_for_json(provider: str, body: dict[str, Any]) -> bool:
    """Whether a request constrains the reply to JSON (the JSON-action dialect)."""
    if provider == "anthropic":
        return body.get("output_format", {}).get("type") == "json_schema"
    if provider == "gemini":
        return body.get("generationConfig", {}).get("response_mime_type") == "application/json"
    return body.get("response_format", {}).get("type") in ("json_schema", "json_object")


def history(provider: str, body: dict[str, Any]) -> tuple[list[Call], list[tuple[Call, str]]]:
    """The tool calls a request's conversation holds, and the results sent for them."""
    if provider == "anthropic":
        return _anthropic_history(body["messages"])
    if provider == "gemini":
        return _gemini_history(body["contents"])
    calls: list[Call] = []
    results: list[tuple[Call, str]] = []
    names: dict[str, str] = {}
    for message in body["messages"]:
        for call in message.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
            calls.append((call["id"], call["function"]["name"]))
        if message["role"] == "tool":
            call_id = message["tool_call_id"]
            results.append(((call_id, names.get(call_id, "?")), str(message["content"])))
    return calls, results


def _anthropic_history(
    messages: list[dict[str, Any]],
) -> tuple[list[Call], list[tuple[Call, str]]]:
    calls: list[Call] = []
    results: list[tuple[Call, str]] = []
    names: dict[str, str] = {}
    for message in messages:
        content = message["content"] if isinstance(message["content"], list) else []
        for block in content:
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
                calls.append((block["id"], block["name"]))
            elif block.get("type") == "tool_result":
                text = block["content"]
                if isinstance(text, list):
                    text = "".join(part.get("text", "") for part in text)
                call_id = block["tool_use_id"]
                results.append(((call_id, names.get(call_id, "?")), str(text)))
    return calls, results


def _gemini_history(contents: list[dict[str, Any]]) -> tuple[list[Call], list[tuple[Call, str]]]:
    calls: list[Call] = []
    results: list[tuple[Call, str]] = []
    for content in contents:
        for part in content.get("parts", []):
            if "function_call" in part:
                calls.append((None, part["function_call"]["name"]))
            elif "function_response" in part:
                reply = part["function_response"]
                results.append(((None, reply["name"]), json.dumps(reply["response"])))
    return calls, results


def reply_calls(provider: str, body: dict[str, Any]) -> list[Call]:
    """The tool calls of one recorded reply, in the provider's own format."""
    if provider == "anthropic":
        return [(b["id"], b["name"]) for b in body["content"] if b["type"] == "tool_use"]
    if provider == "gemini":
        parts = body["candidates"][0]["content"]["parts"]
        return [(None, p["functionCall"]["name"]) for p in parts if "functionCall" in p]
    message = body["choices"][0]["message"]
    return [(c["id"], c["function"]["name"]) for c in message.get("tool_calls") or ()]
