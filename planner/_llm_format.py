"""Which ``response_format`` a model is sent: the one asked for, a weaker one, or none.

Decided once per client (no network: litellm's bundled model table). A server at
``api_base`` is sent JSON schemas as they are: local servers enforce them or refuse
the request, and a refusal makes the planner step down, which a silent downgrade here
would hide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["FormatSupport", "choose_format", "detect_format_support"]

logger = logging.getLogger("penguiflow.planner.llm")

FormatSupport = Literal["json_schema", "json_object", "none"]
"""The strongest ``response_format`` a model takes."""


def detect_format_support(
    litellm: Any,
    model: str,
    params: Mapping[str, Any],
    *,
    json_schema: bool | None,
    self_hosted: bool,
) -> FormatSupport:
    """The strongest format to send ``model`` (see ``LiteLLMClient(json_schema=...)``).

    Args:
        litellm: the litellm module.
        model: the litellm model string.
        params: the client's litellm params (``custom_llm_provider``).
        json_schema: the client's ``json_schema`` setting.
        self_hosted: whether ``api_base`` (or ``base_url``) is set.
    """
    provider = params.get("custom_llm_provider")
    if json_schema or (json_schema is None and self_hosted):
        return "json_schema"
    if json_schema is None:
        try:
            if litellm.supports_response_schema(model=model, custom_llm_provider=provider):
                return "json_schema"
        except Exception:  # an unknown model: fall through to the weaker modes
            logger.debug("supports_response_schema failed for %s", model)
    try:
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:
        supported = None
    if supported is not None and "response_format" not in supported:
        return "none"
    return "json_object"


def choose_format(
    support: FormatSupport, response_format: dict[str, Any] | None
) -> dict[str, Any] | None:
    """What to send for ``response_format`` to a model with ``support``."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        if support == "json_schema":
            return response_format
        return {"type": "json_object"} if support == "json_object" else None
    if kind == "json_object":
        return response_format if support != "none" else None
    return response_format
