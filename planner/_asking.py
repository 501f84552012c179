"""One LLM request of a run: send, step the ``response_format`` down on rejection, count.

The request is bounded by the run's deadline; the reply's usage and cost are added to
the run's state, and ``llm_request`` / ``llm_response`` events are reported.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._answers import answer_streamer
from ._steps import ActiveRun, BudgetHit
from .errors import LLMResponseFormatError
from .llm_types import LLMClient, as_response
from .schema import ActionSchemas, FormatMemory

__all__ = ["ask_llm"]


async def ask_llm(
    run: ActiveRun,
    messages: list[dict[str, Any]],
    tokens: int,
    *,
    client: LLMClient,
    formats: FormatMemory,
    schemas: ActionSchemas,
    model_key: str,
    stream: bool,
) -> str | BudgetHit:
    """Send one request; step the ``response_format`` down if the provider rejects it.

    Args:
        run: the run (its state records usage, budgets and format fallbacks).
        messages: the request's messages.
        tokens: their counted tokens (0 when not counted).
        client: the LLM client.
        formats: the planner's memory of which ``response_format`` works per model.
        schemas: the catalog's action schemas.
        model_key: the model the formats are remembered for.
        stream: stream the reply's answer as ``stream_chunk`` events.

    Returns:
        The reply's text, or a budget hit when the run's deadline passed while waiting.

    Raises:
        LLMError: the client failed for good.
    """
    state = run.state
    while True:
        mode = formats.mode_for(model_key)
        if tokens:
            state.budgets.tokens_last_request = tokens
            state.budgets.tokens_sent += tokens
        if run.callback is not None:
            await run.event(
                "llm_request",
                extra={"tokens": tokens, "messages": len(messages), "format": mode},
            )
        on_chunk = answer_streamer(run) if stream else None
        started = time.perf_counter()
        request = client.complete(
            messages=messages,
            response_format=schemas.response_format(mode),
            stream=stream,
            on_stream_chunk=on_chunk,
        )
        deadline = asyncio.timeout(run.remaining())
        try:
            async with deadline:
                reply = await request
        except TimeoutError:
            if deadline.expired():
                return BudgetHit("deadline_s", "the deadline passed while waiting for the LLM")
            raise
        except LLMResponseFormatError as exc:
            following = formats.step_down(model_key, mode)
            if following is None:
                raise
            state.repairs.format_fallbacks += 1
            state.errors.append(
                f"the provider rejected response_format {mode!r} ({exc.message}); "
                f"using {following!r} for {model_key!r} from now on"
            )
            continue
        state.usage.calls += 1
        if type(reply) is str and run.callback is None:
            return reply  # no usage to add, no event to report
        response = as_response(reply)
        usage = state.usage
        reported = response.usage
        if reported.total_tokens:
            usage.prompt_tokens += reported.prompt_tokens
            usage.completion_tokens += reported.completion_tokens
            usage.total_tokens += reported.total_tokens
        if response.cost_usd:
            usage.cost_usd += response.cost_usd
        if run.callback is not None:
            await run.event(
                "llm_response",
                latency_ms=(time.perf_counter() - started) * 1000,
                extra={"usage": reported.to_dict(), "cost_usd": response.cost_usd},
            )
        return response.text
