"""Content recorded with ``capture_content=True``: masked, then written as JSON.

Prompts, replies, tool arguments and results may hold credentials. Before any of it
becomes a span attribute it goes through the masking the rest of penguiflow uses: the
``SecretMasker`` of the playground (credential-named keys, credential-shaped text, the
values of secret-looking environment variables) and the redactors of connected
``ToolNode``s (the secrets they resolved, in every encoded form).

Chat messages are written in the shape the GenAI conventions give
``gen_ai.input.messages`` and ``gen_ai.output.messages``: a role and a list of parts
(``text``, ``tool_call``, ``tool_call_response``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..planner.llm_types import LLMResponse, message_text
from ..tools._log_masking import mask_known_secrets
from ..tools._masking import SecretMasker

__all__ = ["ContentMasker", "input_messages", "output_messages"]


class ContentMasker:
    """Masks secrets in content and writes it as JSON text (a span attribute value).

    The environment's secret-looking variables are read when it is built.
    """

    __slots__ = ("_masker",)

    def __init__(self) -> None:
        self._masker = SecretMasker()

    def json(self, value: Any) -> str:
        """Return ``value`` (JSON-like) masked, as JSON text."""
        text = json.dumps(self._masker(value), default=str, ensure_ascii=False)
        return self._masker.text(mask_known_secrets(text))

    def text(self, value: str) -> str:
        """Return ``value`` masked."""
        return self._masker.text(mask_known_secrets(value))


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.get("role") == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "result": message_text(message),
            }
        )
        return parts
    text = message_text(message)
    if text:
        parts.append({"type": "text", "content": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": _arguments(function.get("arguments")),
            }
        )
    return parts


def input_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat-completion ``messages`` in the conventions' shape."""
    return [{"role": m.get("role", "user"), "parts": _parts(m)} for m in messages]


def output_messages(response: LLMResponse, finish_reason: str) -> list[dict[str, Any]]:
    """A reply in the conventions' shape."""
    message = {"role": "assistant", "parts": _parts(response.assistant_message())}
    message["finish_reason"] = finish_reason
    return [message]
