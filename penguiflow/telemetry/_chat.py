"""The ``chat`` span of one model request, and the GenAI client metrics it feeds.

Span: ``chat {gen_ai.request.model}``, kind ``CLIENT``, with the provider, the model
asked and the model that answered, the finish reasons, the token usage and the cost the
client reported. Metrics: ``gen_ai.client.operation.duration`` for every request (with
``error.type`` when it failed) and ``gen_ai.client.token.usage`` (``input`` and
``output``) when the provider reported usage.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from ..planner._llm_reply import finish_reason_of
from ..planner.llm_types import LLMResponse, as_response
from . import _names as n
from ._content import input_messages, output_messages
from ._signals import Signals, error_type_of

__all__ = ["provider_of", "traced_chat"]

# LiteLLM's provider prefixes whose name in the conventions differs or is well known.
_PROVIDERS = {
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "gemini": "gcp.gemini",
    "groq": "groq",
    "mistral": "mistral_ai",
    "openai": "openai",
    "perplexity": "perplexity",
    "vertex_ai": "gcp.vertex_ai",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}


def provider_of(model: str) -> tuple[str, str]:
    """``gen_ai.provider.name`` and ``gen_ai.request.model`` of a LiteLLM model string.

    ``openai/gpt-4o`` is ``("openai", "gpt-4o")``; a model without a provider prefix (or
    an offline client's name) has the provider ``_OTHER``.
    """
    prefix, slash, name = model.partition("/")
    if not slash or not prefix or not name:
        return n.OTHER, model
    return _PROVIDERS.get(prefix, prefix), name


def _finish_reason(response: LLMResponse) -> str:
    found = finish_reason_of(response.raw)
    if isinstance(found, str) and found:
        return found
    return "tool_calls" if response.tool_calls else "stop"


async def traced_chat(
    signals: Signals,
    request: Awaitable[str | LLMResponse],
    *,
    model: str,
    messages: list[dict[str, Any]],
) -> str | LLMResponse:
    """Await ``request`` inside a ``chat`` span; record the reply and the metrics."""
    provider, name = provider_of(model)
    common: dict[str, AttributeValue] = {
        n.OPERATION: n.CHAT,
        n.PROVIDER: provider,
        n.REQUEST_MODEL: name,
    }
    attributes = dict(common)
    if signals.content is not None:
        attributes[n.INPUT_MESSAGES] = signals.json(input_messages(messages))
    started = time.perf_counter()
    error: str | None = None
    try:
        with signals.span(f"chat {name}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            try:
                reply = await request
            except BaseException as exc:
                error = error_type_of(exc)
                raise
            try:
                response = as_response(reply)
            except TypeError:
                response = None  # the planner reports what the client returned instead
            if response is not None:
                _record_reply(signals, span, common, response)
            return reply
    finally:
        if error is not None:
            common[n.ERROR_TYPE] = error
        signals.operation_duration.record(time.perf_counter() - started, common)


def _record_reply(
    signals: Signals,
    span: Span,
    common: dict[str, AttributeValue],
    response: LLMResponse,
) -> None:
    reason = _finish_reason(response)
    attributes: dict[str, AttributeValue] = {n.FINISH_REASONS: [reason]}
    if response.model:
        attributes[n.RESPONSE_MODEL] = common[n.RESPONSE_MODEL] = response.model
    usage = response.usage
    if usage.prompt_tokens or usage.completion_tokens:
        attributes[n.INPUT_TOKENS] = usage.prompt_tokens
        attributes[n.OUTPUT_TOKENS] = usage.completion_tokens
        signals.token_usage.record(usage.prompt_tokens, {**common, n.TOKEN_TYPE: "input"})
        signals.token_usage.record(usage.completion_tokens, {**common, n.TOKEN_TYPE: "output"})
    if response.cost_usd is not None:
        attributes[n.COST] = response.cost_usd
    if signals.content is not None:
        attributes[n.OUTPUT_MESSAGES] = signals.json(output_messages(response, reason))
    span.set_attributes(attributes)
