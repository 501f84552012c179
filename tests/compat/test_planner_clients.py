"""LLM clients written for the documented protocol drive the planner unchanged."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from planner_compat_support import StubClient, action, build_tools, finish

from penguiflow.planner import LLMResponse, PlannerEvent, ReactPlanner
from penguiflow.planner.llm_types import Usage


async def test_a_minimal_client_returning_text() -> None:
    client = StubClient([action("search_docs", {"question": "pause"}), finish("Use ctx.pause.")])
    planner = ReactPlanner(llm_client=client, catalog=build_tools())
    result = await planner.run("How do I pause?")
    assert result.reason == "answer_complete"
    assert result.payload["raw_answer"] == "Use ctx.pause."
    assert result.metadata["steps"][0]["observation"] == {"answer": "docs say: pause"}
    assert len(client.calls) == 2
    await planner.aclose()


async def test_a_client_returning_text_and_cost() -> None:
    client = StubClient(
        [(action("search_docs", {"question": "cost"}), 0.25), (finish("cheap"), 0.5)]
    )
    async with ReactPlanner(llm_client=client, catalog=build_tools()) as planner:
        result = await planner.run("What does it cost?")
    assert result.payload.get("raw_answer") == "cheap"
    assert result.metadata["cost"]["total_cost_usd"] == pytest.approx(0.75)
    assert result.metadata["cost"]["main_llm_calls"] == 2
    assert result.metadata["usage"]["cost_usd"] == pytest.approx(0.75)


async def test_a_client_returning_llm_responses() -> None:
    reply = LLMResponse(finish("fine"), usage=Usage(prompt_tokens=10, completion_tokens=2))
    async with ReactPlanner(llm_client=StubClient([reply]), catalog=build_tools()) as planner:
        result = await planner.run("Anything?")
    assert result.payload["raw_answer"] == "fine"
    assert result.metadata["usage"]["total_tokens"] == 12


async def test_a_reply_of_another_type_is_refused_with_the_fix() -> None:
    async with ReactPlanner(llm_client=StubClient([42]), catalog=build_tools()) as planner:
        with pytest.raises(TypeError, match=r"\(text, cost_usd\) pair"):
            await planner.run("Anything?")


class StreamingClient:
    """Streams its reply in three pieces, calling ``on_stream_chunk`` as configured."""

    def __init__(self, reply: str, *, awaits: bool) -> None:
        self.reply = reply
        self.awaits = awaits

    async def complete(
        self,
        *,
        messages: Sequence[Mapping[str, Any]],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: Any = None,
    ) -> str:
        if stream and on_stream_chunk is not None:
            size = len(self.reply) // 3 + 1
            for start in range(0, len(self.reply), size):
                result = on_stream_chunk(self.reply[start : start + size], False)
                if self.awaits and inspect.isawaitable(result):
                    await result
            result = on_stream_chunk("", True)
            if self.awaits and inspect.isawaitable(result):
                await result
        return self.reply


@pytest.mark.parametrize("awaits", [False, True], ids=["plain-call", "awaited"])
async def test_on_stream_chunk_called_plainly_or_awaited(awaits: bool) -> None:
    events: list[PlannerEvent] = []
    answer = "Penguins live in the south."
    client = StreamingClient(action("final_response", {"answer": answer}), awaits=awaits)
    async with ReactPlanner(
        llm_client=client,
        catalog=build_tools(),
        stream_final_response=True,
        event_callback=events.append,
    ) as planner:
        result = await planner.run("Where do penguins live?")
    chunks = [e for e in events if e.event_type == "stream_chunk"]
    assert "".join(e.text or "" for e in chunks) == answer == result.payload["raw_answer"]
    assert chunks[-1].done


async def test_streaming_with_a_client_that_cannot_stream_still_answers() -> None:
    client = StubClient([finish("no stream here")])
    async with ReactPlanner(
        llm_client=client, catalog=build_tools(), stream_final_response=True
    ) as planner:
        result = await planner.run("Stream this")
    assert result.payload["raw_answer"] == "no stream here"
