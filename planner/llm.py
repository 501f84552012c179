"""``LiteLLMClient``: the default LLM client, over ``litellm.acompletion``.

This is the only module of PenguiFlow that imports litellm, and it does so on the first
call, so ``import penguiflow`` stays fast. Before that import it sets
``LITELLM_LOCAL_MODEL_COST_MAP=True`` and ``LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True``
(unless already set) so that litellm reads its bundled price list and Anthropic header
table instead of downloading them; set the variables to ``False`` yourself to get
litellm's latest ones.

Test suites should turn :data:`ALLOW_MODEL_REQUESTS` off (for example in a
``conftest.py`` fixture) so that no test reaches a real provider by accident; a test
that means to call a model (or a mocked HTTP endpoint) opts in with
:func:`allow_model_requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from penguiflow.backoff import backoff_delay
from penguiflow.errors import ConfigError

from ._llm_errors import BadReply, FilteredReply, classify
from ._llm_format import FormatSupport, choose_format, detect_format_support
from ._llm_reply import (
    finish_reason_of,
    format_sent,
    message_of,
    message_tool_calls,
    priced,
    text_or_none,
    tool_calls_of,
    usage_of,
)
from .errors import ModelRequestsBlockedError
from .llm_types import LLMResponse, StreamCallback, ToolChoice, deliver_chunk

__all__ = ["ALLOW_MODEL_REQUESTS", "LiteLLMClient", "allow_model_requests"]

logger = logging.getLogger("penguiflow.planner.llm")

ALLOW_MODEL_REQUESTS: bool = True
"""Whether :class:`LiteLLMClient` may call a model. Set it to ``False`` in test suites.

Read on every call, so set it on this module
(``penguiflow.planner.llm.ALLOW_MODEL_REQUESTS = False``), not on a copy.
"""

_RESERVED = {
    "model": "pass the model as the first argument",
    "messages": "messages are given to complete()",
    "stream": "pass stream=True to complete()",
    "response_format": "pass response_format to complete()",
    "tools": "the planner sends the catalog's tools to complete() (tool_mode='native')",
    "tool_choice": "pass tool_choice to complete()",
    "timeout": "use timeout_s=",
    "num_retries": "use max_retries=",
}
_SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "credential")


@contextlib.contextmanager
def allow_model_requests(allow: bool = True) -> Iterator[None]:
    """Set :data:`ALLOW_MODEL_REQUESTS` to ``allow`` inside the block, then restore it.

    Args:
        allow: the value to use inside the block.

    Example:
        >>> with allow_model_requests():  # doctest: +SKIP
        ...     await client.complete(messages=[{"role": "user", "content": "hi"}])
    """
    global ALLOW_MODEL_REQUESTS
    previous = ALLOW_MODEL_REQUESTS
    ALLOW_MODEL_REQUESTS = allow
    try:
        yield
    finally:
        ALLOW_MODEL_REQUESTS = previous


_UNKNOWN = object()


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # litellm would otherwise download Anthropic's beta-header table on first use
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    import litellm

    # litellm prints a "Give Feedback" banner on every exception otherwise.
    litellm.suppress_debug_info = True
    return litellm


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


@dataclass(slots=True)
class _Progress:
    """What one attempt already did; chunks that reached the caller cannot be retried."""

    chunks_delivered: int = 0
    callback_error: BaseException | None = None


class LiteLLMClient:
    """An :class:`~penguiflow.planner.llm_types.LLMClient` for any model litellm supports.

    Args:
        model: a litellm model string, such as ``"openai/gpt-4o-mini"``.
        timeout_s: the limit of each attempt in seconds, streaming included; ``None``
            for no limit.
        max_retries: how many times to retry a transient failure (timeouts, network
            errors, 5xx, 408, 409, 429). Auth errors and other 4xx are never retried.
        backoff_base: the first retry waits about this many seconds; each retry doubles
            it (with jitter), up to ``max_backoff``.
        max_backoff: the longest wait between attempts. A ``Retry-After`` longer than
            this ends the retries with :class:`~penguiflow.planner.errors.LLMRateLimitError`.
        json_schema: whether to send JSON-schema ``response_format``s to the model.
            ``None``: yes when ``api_base`` (or ``base_url``) is set, since local and
            OpenAI-compatible servers (llama.cpp, vLLM, Ollama, LM Studio) enforce
            schemas and a server that does not refuses the request, which makes the
            planner fall back; otherwise litellm is asked
            (``supports_response_schema``). ``False`` never sends a schema.
        tool_calling: whether the model handles native tool calls (what a planner with
            ``tool_mode="auto"`` goes by). ``None`` asks litellm
            (``supports_function_calling``); models litellm does not know count as not
            supporting them.
        retry_timeouts: whether a call that ran out of ``timeout_s`` is tried again.
            ``None``: yes, unless ``api_base`` (or ``base_url``) is set: a self-hosted
            server usually works on one request at a time and keeps generating the
            abandoned reply, so a retry would only queue behind it.
        sleep: the function that waits between attempts (tests inject a recorder).
        **params: passed to ``litellm.acompletion`` unchanged (``api_key``,
            ``api_base``, ``temperature``, ``drop_params``...). Values whose name looks
            secret are hidden from ``repr`` and removed from error messages.

    Raises:
        ConfigError: a bad value, or a param this client sets itself.
    """

    def __init__(
        self,
        model: str,
        *,
        timeout_s: float | None = 60.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        max_backoff: float = 30.0,
        json_schema: bool | None = None,
        tool_calling: bool | None = None,
        retry_timeouts: bool | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **params: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(
                f"LiteLLMClient(model=...) must be a litellm model string such as "
                f"'openai/gpt-4o-mini', got {model!r}"
            )
        if timeout_s is not None and not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ConfigError(f"LiteLLMClient.timeout_s must be > 0 or None, got {timeout_s!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"LiteLLMClient.max_retries must be an int >= 0, got {max_retries!r}")
        if not (backoff_base >= 0 and math.isfinite(backoff_base)):
            raise ConfigError(
                f"LiteLLMClient.backoff_base must be >= 0 seconds, got {backoff_base!r}"
            )
        if not (max_backoff >= backoff_base and math.isfinite(max_backoff)):
            raise ConfigError(
                f"LiteLLMClient.max_backoff must be >= backoff_base ({backoff_base}), "
                f"got {max_backoff!r}"
            )
        for name, fix in _RESERVED.items():
            if name in params:
                raise ConfigError(f"LiteLLMClient does not take {name}= in params; {fix}")
        self._model = model
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_backoff = max_backoff
        self._self_hosted = bool(params.get("api_base") or params.get("base_url"))
        self._json_schema = json_schema
        self._tool_calling = tool_calling
        self._retry_timeouts = not self._self_hosted if retry_timeouts is None else retry_timeouts
        self._sleep = sleep
        self._params = dict(params)
        self._secrets = tuple(
            str(value)
            for name, value in params.items()
            if _is_secret_param(name) and isinstance(value, str) and value
        )
        self._format_support: FormatSupport | None = None
        self._context_window: int | object | None = _UNKNOWN

    @classmethod
    def from_spec(cls, spec: str | Mapping[str, Any]) -> LiteLLMClient:
        """Build a client from a model string or a dict of arguments.

        Args:
            spec: ``"openai/gpt-4o-mini"`` or ``{"model": "...", "api_key": ..., ...}``;
                the dict's keys are this class's arguments plus litellm params.

        Raises:
            ConfigError: ``spec`` has no model or a bad value.
        """
        if isinstance(spec, str):
            return cls(spec)
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"an LLM spec must be a model string or a dict with a 'model' key, "
                f"got {type(spec).__name__}"
            )
        options = dict(spec)
        model = options.pop("model", None)
        if not model:
            raise ConfigError(
                "an LLM spec dict needs a 'model' key, e.g. {'model': 'openai/gpt-4o-mini'}; "
                f"got keys {sorted(options)}"
            )
        return cls(model, **options)

    @property
    def model(self) -> str:
        """The litellm model string this client calls."""
        return self._model

    @property
    def tool_calling(self) -> bool:
        """Whether the model handles native tool calls (given, or from litellm's table).

        Looked up once, offline (litellm's bundled table); the first look-up imports
        litellm.
        """
        if self._tool_calling is None:
            try:
                supported = _litellm().supports_function_calling(
                    model=self._model, custom_llm_provider=self._params.get("custom_llm_provider")
                )
            except Exception:  # a model litellm does not know: no native tool calls
                supported = False
            self._tool_calling = supported is True
        return self._tool_calling

    @property
    def context_window(self) -> int | None:
        """The model's input window in tokens, from litellm's model table (``None``: unknown).

        The planner keeps every request under this window minus ``max_output_tokens``.
        Looked up once, offline (litellm's bundled table).
        """
        if self._context_window is _UNKNOWN:
            value: Any = None
            try:
                info = _litellm().get_model_info(self._model)
                value = info.get("max_input_tokens") or info.get("max_tokens")
            except Exception:  # a model litellm does not know: no window
                value = None
            valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
            self._context_window = value if valid else None
        return self._context_window if isinstance(self._context_window, int) else None

    @property
    def max_output_tokens(self) -> int | None:
        """The reply limit set in the params (``max_tokens`` or ``max_completion_tokens``)."""
        for name in ("max_completion_tokens", "max_tokens"):
            value = self._params.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    def __repr__(self) -> str:
        params = {
            name: ("***" if _is_secret_param(name) else value)
            for name, value in self._params.items()
        }
        return (
            f"LiteLLMClient(model={self._model!r}, timeout_s={self._timeout_s!r}, "
            f"max_retries={self._max_retries!r}, params={params!r})"
        )

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> LLMResponse:
        """Send ``messages`` to the model and return its reply with usage and cost.

        A JSON-schema ``response_format`` is sent as-is when the model supports it (or
        ``api_base`` is set), downgraded to ``{"type": "json_object"}`` when it only
        supports JSON mode, and dropped when it supports neither; the reply's
        :attr:`~penguiflow.planner.llm_types.LLMResponse.format_sent` says which. With
        ``stream=True`` each text delta goes to ``on_stream_chunk(delta, False)`` and the
        end to ``on_stream_chunk("", True)``;
        tool-call deltas are gathered into :attr:`LLMResponse.tool_calls`. A stream that
        fails after delivering text is not retried.

        Args:
            messages: OpenAI-style chat messages (tool calls and results included).
            response_format: the wanted output format, or ``None``.
            stream: stream the reply.
            on_stream_chunk: receives ``(text, done)``; sync or async.
            tools: OpenAI-style function definitions for native tool calls; litellm
                translates them for each provider.
            tool_choice: ``"auto"``, ``"required"``, ``"none"`` or a named function.

        Returns:
            The reply text and tool calls, with usage, cost (when litellm knows the
            price) and model.

        Raises:
            ModelRequestsBlockedError: :data:`ALLOW_MODEL_REQUESTS` is ``False``.
            LLMError: the call failed; the subclass says how (see
                :mod:`penguiflow.planner.errors`).
        """
        if not ALLOW_MODEL_REQUESTS:
            raise ModelRequestsBlockedError(self._model)
        litellm = _litellm()
        kwargs = self._request(litellm, messages, response_format, stream)
        if tools:
            kwargs["tools"] = tools
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        attempt = 0
        while True:
            attempt += 1
            progress = _Progress()
            try:
                async with asyncio.timeout(self._timeout_s):
                    if stream:
                        return await self._stream(litellm, kwargs, on_stream_chunk, progress)
                    return self._read(litellm, await litellm.acompletion(**kwargs), kwargs)
            except Exception as exc:
                if exc is progress.callback_error:
                    raise  # the caller's own callback failed: not an LLM error
                failure = classify(exc, self._secrets)
                note = ""
                if progress.chunks_delivered:
                    note = f"failed after streaming {progress.chunks_delivered} chunk(s)"
                elif failure.abandoned and not self._retry_timeouts:
                    note = (
                        f"not retried: the server may still be working on the abandoned "
                        f"request (retry_timeouts=False); raise timeout_s (now "
                        f"{self._timeout_s}s) or lower max_tokens"
                    )
                elif failure.retryable and attempt <= self._max_retries:
                    delay = self._delay(attempt, failure.retry_after)
                    if delay is not None:
                        logger.info(
                            "LLM call to %s failed (%s), retry %d/%d in %.2fs",
                            self._model,
                            failure.error_type.__name__,
                            attempt,
                            self._max_retries,
                            delay,
                        )
                        await self._sleep(delay)
                        continue
                    note = (
                        f"the provider asked to wait {failure.retry_after:.1f}s, more than "
                        f"max_backoff={self._max_backoff}s"
                    )
                raise failure.build(model=self._model, attempts=attempt, note=note) from exc

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= self._max_backoff else None
        return backoff_delay(
            attempt, backoff_base=self._backoff_base, max_backoff=self._max_backoff, jitter=0.5
        )

    def _request(
        self,
        litellm: Any,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
        stream: bool,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            **self._params,
            "model": self._model,
            "messages": messages,
            "timeout": self._timeout_s,
            # Retries happen here, once; the SDK and litellm must not retry too.
            "max_retries": 0,
            "num_retries": 0,
        }
        if response_format is not None and self._format_support is None:
            self._format_support = detect_format_support(
                litellm,
                self._model,
                self._params,
                json_schema=self._json_schema,
                self_hosted=self._self_hosted,
            )
        chosen = choose_format(self._format_support or "none", response_format)
        if chosen is not None:
            kwargs["response_format"] = chosen
        if stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {
                **dict(self._params.get("stream_options") or {}),
                "include_usage": True,
            }
        return kwargs

    def _read(self, litellm: Any, response: Any, kwargs: Mapping[str, Any]) -> LLMResponse:
        text, calls = message_of(response)
        return LLMResponse(
            text,
            usage=usage_of(getattr(response, "usage", None)),
            cost_usd=self._cost(litellm, response),
            model=getattr(response, "model", None) or self._model,
            raw=response,
            tool_calls=calls,
            finish_reason=text_or_none(finish_reason_of(response)),
            format_sent=format_sent(kwargs),
        )

    async def _stream(
        self,
        litellm: Any,
        kwargs: dict[str, Any],
        on_stream_chunk: StreamCallback | None,
        progress: _Progress,
    ) -> LLMResponse:
        response = await litellm.acompletion(**kwargs)
        pieces: list[str] = []
        chunks: list[Any] = []
        usage_obj: Any = None
        model: str | None = None
        finish: Any = None
        try:
            async for chunk in response:
                chunks.append(chunk)
                model = model or getattr(chunk, "model", None)
                usage_obj = getattr(chunk, "usage", None) or usage_obj
                choices = getattr(chunk, "choices", None)
                if not choices:
                    continue
                finish = getattr(choices[0], "finish_reason", None) or finish
                delta = getattr(choices[0], "delta", None)
                text = getattr(delta, "content", None)
                if isinstance(text, str) and text:
                    pieces.append(text)
                    await self._deliver(on_stream_chunk, text, False, progress)
                    progress.chunks_delivered += 1
        finally:
            aclose = getattr(response, "aclose", None)
            if aclose is not None:
                await aclose()
        if not chunks:
            raise BadReply("the stream ended without any chunk")
        built: Any = None
        with contextlib.suppress(Exception):
            built = litellm.stream_chunk_builder(chunks)
        calls = tool_calls_of(message_tool_calls(built))
        if not pieces and not calls and finish_reason_of(built) == "content_filter":
            raise FilteredReply("finish_reason='content_filter'")
        await self._deliver(on_stream_chunk, "", True, progress)
        return LLMResponse(
            "".join(pieces),
            usage=usage_of(usage_obj),
            cost_usd=None if built is None else self._cost(litellm, built),
            model=model or self._model,
            raw=None,
            tool_calls=calls,
            finish_reason=text_or_none(finish_reason_of(built) or finish),
            format_sent=format_sent(kwargs),
        )

    @staticmethod
    async def _deliver(
        callback: StreamCallback | None, text: str, done: bool, progress: _Progress
    ) -> None:
        try:
            await deliver_chunk(callback, text, done)
        except Exception as exc:
            progress.callback_error = exc
            raise

    def _cost(self, litellm: Any, response: Any) -> float | None:
        known = priced(response)
        if known is not None:
            return known
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # unknown price: cost stays unknown, the call still succeeds
            logger.debug("no price known for %s", self._model)
            return None
        return float(cost) if cost is not None else None
