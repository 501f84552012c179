"""Translate litellm exceptions into planner errors, and keep secrets out of them.

litellm wraps every provider failure in its own classes, but a reply that arrived and
could not be read is also reported as a 5xx. The HTTP status alone is therefore not
enough: a failure counts as an HTTP error only when the exception chain holds a real
HTTP status error, and as a network failure only when it holds a transport error.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import (
    LLMAuthError,
    LLMBadRequestError,
    LLMContentFilterError,
    LLMContextWindowError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMResponseFormatError,
    LLMTimeoutError,
    LLMToolCallingError,
    LLMUnavailableError,
)

_MAX_MESSAGE = 500
_FORMAT_WORDS = (
    "response_format",
    "response format",
    "response_schema",
    "json_schema",
    "json schema",
    "json_object",
    "structured output",
    "guided_json",
)
# Phrases of an error that refuses native tool calling (not merely one bad tool message);
# local servers answer some of them with a 500 (llama.cpp without --jinja).
_TOOL_WORDS = (
    "tool_choice",
    "tool choice",
    "tool-call-parser",
    "'tools'",
    '"tools"',
    "tools param",
    "tools is not supported",
    "tools are not supported",
    "tools not supported",
    "does not support tools",
    "does not support function",
    "function calling",
    "function_calling",
    "tool calling",
    "tool use is not supported",
)
_FILTER_WORDS = (
    "content_policy_violation",
    "content_filter",
    "content management policy",
    "safety system",
    "responsibleaipolicyviolation",
)
_SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/\-]{6,}=*"),
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9._\-]{6,}"),
)
_SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


class BadReply(Exception):
    """The provider answered, but the reply has no usable text."""


class FilteredReply(BadReply):
    """The provider answered, but its content filter removed the reply."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure: which error to raise and whether to try again.

    ``abandoned`` marks a call this side gave up on (a client timeout): the server may
    still be working on it.
    """

    error_type: type[LLMError]
    message: str
    status_code: int | None
    retryable: bool
    retry_after: float | None = None
    abandoned: bool = False

    def build(self, *, model: str, attempts: int, note: str = "") -> LLMError:
        """Return the planner error for this failure."""
        message = f"{self.message}; {note}" if note else self.message
        if self.error_type is LLMRateLimitError:
            return LLMRateLimitError(
                message,
                model=model,
                status_code=self.status_code,
                attempts=attempts,
                retry_after=self.retry_after,
            )
        return self.error_type(
            message, model=model, status_code=self.status_code, attempts=attempts
        )


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Return ``text`` with known secret values and key-shaped strings replaced by ``***``."""
    env_secrets = [
        value
        for name, value in os.environ.items()
        if name.upper().endswith(_SECRET_ENV_SUFFIXES) and len(value) >= 8
    ]
    for secret in (*secrets, *env_secrets):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_NO_CREDENTIALS = ("missing credentials", "api_key client option must be set")


def _missing_credentials(exc: BaseException) -> bool:
    """Whether the provider's SDK refused to send the request for want of an API key.

    litellm reports that refusal (raised before any request) as a server error.
    """
    return any(
        type(item).__name__ == "OpenAIError"
        and any(s in str(item).lower() for s in _NO_CREDENTIALS)
        for item in _chain(exc)
    )


def _kinds(exc: BaseException) -> set[str]:
    # Class names along the MRO: litellm's classes are matched by name so that this
    # module never imports litellm (only llm.py does).
    return {cls.__name__ for cls in type(exc).__mro__}


def _has_http_status_error(exc: BaseException) -> bool:
    import httpx

    for item in _chain(exc):
        if isinstance(item, httpx.HTTPStatusError):
            return True
        # The OpenAI SDK raises APIStatusError subclasses only for real HTTP answers;
        # litellm's look-alike classes live in litellm modules and do not count.
        if type(item).__module__.startswith("openai") and "APIStatusError" in _kinds(item):
            return True
    return False


def _has_transport_error(exc: BaseException) -> bool:
    import httpx

    for item in _chain(exc):
        if isinstance(item, httpx.TransportError | OSError):
            return True
        if type(item).__module__.startswith("aiohttp"):
            return True
    return False


def _headers(exc: BaseException) -> Any:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers:
        return headers
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Return the wait the provider asked for (``retry-after-ms`` or ``retry-after``)."""
    headers = _headers(exc)
    if not headers:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000.0)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _tools_refused(status: int, text: str) -> Failure | None:
    if not any(word in text.lower() for word in _TOOL_WORDS):
        return None
    return Failure(
        LLMToolCallingError,
        f"the provider rejected native tool calling; use tool_mode='json': {text}",
        status,
        False,
    )


def _format_refused(status: int, text: str) -> Failure | None:
    if not any(word in text.lower() for word in _FORMAT_WORDS):
        return None
    return Failure(
        LLMResponseFormatError,
        f"the provider rejected the response_format; retry with a simpler format: {text}",
        status,
        False,
    )


def _bad_request(status: int, text: str) -> Failure:
    lowered = text.lower()
    if any(word in lowered for word in _FILTER_WORDS):
        return Failure(
            LLMContentFilterError,
            f"the provider's content filter blocked the request: {text}",
            status,
            False,
        )
    refused = _tools_refused(status, text) or _format_refused(status, text)
    if refused is not None:
        return refused
    return Failure(LLMBadRequestError, f"the provider rejected the request: {text}", status, False)


def _status_failure(exc: BaseException, status: int, text: str) -> Failure:
    kinds = _kinds(exc)
    if "ContentPolicyViolationError" in kinds:
        return Failure(
            LLMContentFilterError,
            f"the provider's content filter blocked the request: {text}",
            status,
            False,
        )
    if "ContextWindowExceededError" in kinds:
        return Failure(
            LLMContextWindowError,
            f"the prompt does not fit the model's context: {text}",
            status,
            False,
        )
    if status in (401, 403):
        return Failure(
            LLMAuthError,
            f"the provider refused the credentials; check the API key and its permissions: {text}",
            status,
            False,
        )
    if status == 408:
        return Failure(LLMTimeoutError, f"the provider timed out: {text}", status, True)
    if status == 409:
        return Failure(
            LLMUnavailableError, f"the provider reported a conflict: {text}", status, True
        )
    if status < 500:
        return _bad_request(status, text)
    # Local servers answer a request shape they cannot handle with a 500 (llama.cpp
    # without --jinja for tools; llama-cpp-python for a json_schema response_format).
    refused = _tools_refused(status, text) or _format_refused(status, text)
    if refused is not None:
        return refused
    if _has_transport_error(exc):
        return Failure(LLMUnavailableError, f"could not reach the provider: {text}", None, True)
    if _has_http_status_error(exc):
        return Failure(LLMUnavailableError, f"the provider failed: {text}", status, True)
    return Failure(LLMResponseError, f"the provider's reply could not be read: {text}", None, False)


def classify(exc: BaseException, secrets: Sequence[str] = ()) -> Failure:
    """Classify an exception raised while calling the model.

    Args:
        exc: what ``litellm.acompletion`` (or reading its reply) raised.
        secrets: values to remove from the message (API keys given to the client).
    """
    kinds = _kinds(exc)
    raw = str(exc)
    if type(exc).__name__ not in raw:
        raw = f"{type(exc).__name__}: {raw}"
    text = redact(raw, secrets)[:_MAX_MESSAGE]
    if isinstance(exc, FilteredReply):
        return Failure(
            LLMContentFilterError,
            f"the provider's content filter removed the reply: {exc}",
            None,
            False,
        )
    if isinstance(exc, BadReply):
        return Failure(
            LLMResponseError, f"the provider's reply could not be read: {exc}", None, False
        )
    if isinstance(exc, TimeoutError) or "Timeout" in kinds:
        return Failure(LLMTimeoutError, f"the call timed out: {text}", None, True, abandoned=True)
    if "RateLimitError" in kinds or getattr(exc, "status_code", None) == 429:
        return Failure(
            LLMRateLimitError,
            f"the provider rate-limited the request: {text}",
            429,
            True,
            retry_after_seconds(exc),
        )
    if kinds & {"AuthenticationError", "PermissionDeniedError"}:
        return _status_failure(exc, int(getattr(exc, "status_code", 401) or 401), text)
    if _missing_credentials(exc):
        return Failure(
            LLMAuthError,
            "no API key for the provider: set its key in the environment (OPENAI_API_KEY, "
            f"ANTHROPIC_API_KEY, ...) or pass api_key in the model's params: {text}",
            None,
            False,
        )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return _status_failure(exc, status, text)
    if _has_transport_error(exc):
        return Failure(LLMUnavailableError, f"could not reach the provider: {text}", None, True)
    if "BadRequestError" in kinds:
        return _status_failure(exc, 400, text)
    return Failure(LLMError, f"the LLM call failed unexpectedly: {text}", None, False)
