"""One LLM request of a run: send, step the request mode down on rejection, count.

The request is bounded by the run's deadline; the reply's usage and cost are added to
the run's state and to the current step, and ``llm_request`` / ``llm_response`` events
are reported. The ``llm_request`` event names the format asked for; ``llm_response`` and
``usage.formats`` name the format that reached the provider, which a client may have
weakened (a model it does not know to take JSON schemas). With telemetry on, the request
is a ``chat`` span.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from ._active import ActiveRun, BudgetHit
from ._answers import ChunkRelay, TextStreamer, answer_streamer
from .errors import LLMResponseFormatError, LLMToolCallingError
from .llm_types import LLMClient, LLMResponse, ToolChoice, as_response, fit_request
from .schema import ActionSchemas, FormatMemory, FormatMode

__all__ = ["Asker", "ask_llm"]


@dataclass(frozen=True, slots=True)
class Asker:
    """What every request of a planner shares (immutable; one per planner).

    Attributes:
        client: the LLM client.
        formats: which request mode works, per model.
        schemas: the catalog's action schemas (JSON modes).
        tools: the catalog as native tool definitions (native mode).
        tool_choice: the ``tool_choice`` of native requests (``None``: the provider's).
        forced_choice: the ``tool_choice`` of native requests until the run's first
            tool step (``None``: ``tool_choice`` throughout).
        model_key: the model the modes are remembered for.
        stream: stream the reply's answer as ``stream_chunk`` events.
        keywords: the optional keywords the client's ``complete`` takes (``None``: any).
    """

    client: LLMClient
    formats: FormatMemory
    schemas: ActionSchemas
    tools: list[dict[str, Any]]
    tool_choice: ToolChoice | None
    model_key: str
    stream: bool
    forced_choice: ToolChoice | None = None
    keywords: frozenset[str] | None = None


async def ask_llm(
    run: ActiveRun, messages: list[dict[str, Any]], tokens: int, mode: FormatMode, asker: Asker
) -> str | LLMResponse | BudgetHit | None:
    """Send one request in ``mode``; step the mode down if the provider rejects it.

    Args:
        run: the run (its state records usage, budgets and format fallbacks).
        messages: the request's messages, written for ``mode``.
        tokens: their counted tokens (0 when not counted).
        mode: the request mode (``"native"`` or a JSON mode).
        asker: the planner's request settings.

    Returns:
        The reply (text, or a response with its usage and tool calls); a budget hit
        when the run's deadline passed while waiting; or ``None`` when the provider
        rejected the mode and the model now has another one (the request must be
        written again for it).

    Raises:
        LLMError: the client failed for good.
    """
    state = run.state
    native = mode == "native"
    run.native = native
    if tokens:
        state.budgets.tokens_last_request = tokens
        state.budgets.tokens_sent += tokens
    if run.callback is not None:
        await run.event(
            "llm_request", extra={"tokens": tokens, "messages": len(messages), "format": mode}
        )
    relay: ChunkRelay | None = None
    streamer: TextStreamer | None = None
    if asker.stream and native:
        relay = ChunkRelay(streamer := TextStreamer(run))
    elif asker.stream:
        relay = ChunkRelay(answer_streamer(run))
    started = time.perf_counter()
    fields = _request_fields(asker, messages, mode, relay, first=not state.steps)
    request: Awaitable[str | LLMResponse] = asker.client.complete(**fields)
    trace = run.info.trace
    if trace is not None:
        request = trace.chat(request, model=asker.model_key, messages=messages)
    remaining = run.remaining()
    deadline = None if remaining is None else asyncio.timeout(remaining)
    try:
        async with deadline or contextlib.nullcontext():
            reply = await request
            if relay is not None:
                await relay.drain()  # chunks of a client that did not await the callback
    except TimeoutError:
        if deadline is not None and deadline.expired():
            return BudgetHit("deadline_s", "the deadline passed while waiting for the LLM")
        raise
    except (LLMResponseFormatError, LLMToolCallingError) as exc:
        following = asker.formats.step_down(asker.model_key, mode)
        if following is None:
            raise
        state.repairs.format_fallbacks += 1
        what = "native tool calls" if native else f"response_format {mode!r}"
        state.errors.append(
            f"the provider rejected {what} ({exc.message}); using {following!r} for "
            f"{asker.model_key!r} from now on"
        )
        return None
    if type(reply) is str and run.callback is None:
        state.usage.calls += 1
        formats = state.usage.formats
        formats[mode] = formats.get(mode, 0) + 1
        return reply  # no usage to add, no event to report
    response = await _account(run, reply, started, mode)
    if streamer is not None:
        await streamer.finish(answer=not response.tool_calls)
    return response


def _request_fields(
    asker: Asker,
    messages: list[dict[str, Any]],
    mode: FormatMode,
    relay: ChunkRelay | None,
    *,
    first: bool,
) -> dict[str, Any]:
    """The keywords of one ``complete`` call (``first``: the run has no step yet)."""
    fields: dict[str, Any]
    if mode == "native":
        forced = asker.forced_choice is not None and first
        choice = asker.forced_choice if forced else asker.tool_choice
        fields = {"messages": messages, "tools": asker.tools, "tool_choice": choice}
    else:
        fields = {"messages": messages, "response_format": asker.schemas.response_format(mode)}
    if relay is not None:
        fields["stream"] = True
        fields["on_stream_chunk"] = relay
    if asker.keywords is not None:  # a client that does not take every optional keyword
        fields = fit_request(fields, asker.keywords)
    return fields


def sent_mode(asked: FormatMode, format_sent: str | None) -> FormatMode:
    """The request mode that reached the provider, from what the client reports."""
    if asked == "native" or format_sent is None or format_sent == "json_schema":
        return asked
    if format_sent == "json_object":
        return "json_object" if asked in ("strict", "generic") else asked
    return "prompt"


async def _account(run: ActiveRun, reply: Any, started: float, asked: FormatMode) -> LLMResponse:
    usage = run.state.usage
    if type(reply) is str:
        usage.calls += 1
        response = LLMResponse(reply)
    else:
        response = as_response(reply)
        reported = response.usage
        usage.add(
            reported.prompt_tokens,
            reported.completion_tokens,
            reported.total_tokens,
            response.cost_usd,
        )
    sent = response.format_sent
    mode = asked if sent is None else sent_mode(asked, sent)
    usage.formats[mode] = usage.formats.get(mode, 0) + 1
    if mode != asked:
        _note_weaker_format(run, asked, mode)
    if run.callback is not None:
        extra: dict[str, Any] = {
            "usage": response.usage.to_dict(),
            "cost_usd": response.cost_usd,
            "format": mode,
        }
        if response.finish_reason is not None:
            extra["finish_reason"] = response.finish_reason
        if response.tool_calls:
            extra["tool_calls"] = [call.name for call in response.tool_calls]
        await run.event(
            "llm_response", latency_ms=(time.perf_counter() - started) * 1000, extra=extra
        )
    return response


def _note_weaker_format(run: ActiveRun, asked: FormatMode, sent: FormatMode) -> None:
    """Say once per run that the client sent a weaker format than the planner asked for."""
    note = (
        f"the client sent {sent!r} instead of the {asked!r} format (it does not know the "
        "model to take JSON schemas); pass json_schema=True to LiteLLMClient if the "
        "server enforces them"
    )
    if note not in run.state.errors:
        run.state.errors.append(note)
