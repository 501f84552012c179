"""The spans of planner runs: the tree, the GenAI attributes, errors, content and masking."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from otel_helpers import (
    SECRET,
    act,
    build_planner,
    final,
    parallel,
)
from otel_support import Collected, collecting, points, providers, tree

from penguiflow import Agent
from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.planner.errors import LLMError
from penguiflow.planner.llm_types import LLMResponse
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.run_state import RunState
from penguiflow.planner.testing import tool_reply
from penguiflow.telemetry import Telemetry, instrument, uninstrument
from penguiflow.telemetry._runtime import PROPAGATOR
from penguiflow.tools._log_masking import mask_logs_for, stop_masking_logs_for
from penguiflow.tools._secrets import Redactor


def _children(spans: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["parent_id"] == parent["span_id"]]


async def _weather_run(**kwargs: Any) -> PlannerFinish | PlannerPause:
    planner = build_planner(
        [
            parallel([("weather", {"city": "Paris"}), ("flaky", {"city": "Rome"})]),
            final("Sunny in Paris, mild in Rome"),
        ],
        **kwargs,
    )
    async with planner:
        return await planner.run("What is the weather in Paris and Rome?")


async def test_a_run_with_a_parallel_step_is_one_tree_of_genai_spans(otel: Collected) -> None:
    result = await _weather_run()
    assert isinstance(result, PlannerFinish)
    spans = otel.spans()
    assert tree(spans).splitlines()[0] == "invoke_agent assistant", tree(spans)
    run = otel.one("invoke_agent assistant")
    assert run["parent_id"] is None and run["kind"] == "INTERNAL"
    assert {s["trace_id"] for s in spans} == {run["trace_id"]}
    assert (
        run["attributes"]
        | {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "assistant",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 200,
            "gen_ai.usage.output_tokens": 40,
            "penguiflow.run.outcome": "answer_complete",
            "penguiflow.run.entry": "run",
        }
        == run["attributes"]
    )
    under_run = sorted(s["name"] for s in _children(spans, run))
    assert under_run == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "execute_tool flaky",
        "execute_tool weather",
    ]

    chat = otel.named("chat gpt-4o-mini")[0]
    assert chat["kind"] == "CLIENT"
    assert chat["attributes"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "penguiflow.usage.cost_usd": 0.0005,
    }

    # The parallel branches: siblings under the run, each with its node span inside.
    for name, retries in (("weather", 0), ("flaky", 1)):
        call = otel.one(f"execute_tool {name}")
        attributes = call["attributes"]
        assert attributes["gen_ai.operation.name"] == "execute_tool"
        assert attributes["gen_ai.tool.name"] == name
        assert attributes["gen_ai.tool.type"] == "function"
        assert attributes["penguiflow.tool.side_effects"] == "read"
        assert attributes["penguiflow.tool.retries"] == retries
        assert attributes["penguiflow.tool.outcome"] == "ok"
        assert call["status"] == "UNSET"
        (node,) = _children(spans, call)
        assert node["name"] == f"node {name}"
        assert node["attributes"]["penguiflow.trace_id"] == attributes["gen_ai.tool.call.id"]
        assert node["attributes"]["penguiflow.node.attempts"] == retries + 1
    assert otel.one("node flaky")["events"] == ["attempt_failed"]


async def test_nothing_of_the_content_is_recorded_unless_asked(otel: Collected) -> None:
    await _weather_run()
    recorded = json.dumps([s["attributes"] for s in otel.spans()])
    for name in (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ):
        assert name not in recorded
    assert "Paris" not in recorded


async def test_captured_content_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TEST_API_KEY", SECRET)  # read when the telemetry is built
    redactor = Redactor()  # the secrets a connected ToolNode resolved
    redactor.add("tool-node-secret-42")
    mask_logs_for(redactor)
    try:
        with collecting(capture_content=True) as otel:
            planner = build_planner(
                [
                    act("weather", {"city": f"Paris {SECRET} tool-node-secret-42"}),
                    final(f"done, key {SECRET}"),
                ]
            )
            async with planner:
                await planner.run(f"weather with key {SECRET}, api_key=tool-node-secret-42")
            spans = otel.spans()
    finally:
        stop_masking_logs_for(redactor)
    recorded = json.dumps([s["attributes"] for s in spans])
    assert SECRET not in recorded and "tool-node-secret-42" not in recorded
    call = next(s for s in spans if s["name"] == "execute_tool weather")["attributes"]
    assert json.loads(call["gen_ai.tool.call.arguments"]) == {"city": "Paris *** ***"}
    assert json.loads(call["gen_ai.tool.call.result"])["city"] == "Paris *** ***"
    run = next(s for s in spans if s["name"] == "invoke_agent assistant")["attributes"]
    (query,) = json.loads(run["gen_ai.input.messages"])
    assert query == {
        "role": "user",
        "parts": [{"type": "text", "content": "weather with key ***, api_key=***"}],
    }
    chat = next(s for s in spans if s["name"] == "chat gpt-4o-mini")["attributes"]
    messages = json.loads(chat["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["system", "user"]
    (output,) = json.loads(chat["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["finish_reason"] == "stop"


async def test_a_failing_tool_marks_its_spans_and_the_tool_metrics(otel: Collected) -> None:
    planner = build_planner([act("weather", {"city": "Atlantis"}), final("no such city")])
    async with planner:
        await planner.run("weather in Atlantis?")
    call = otel.one("execute_tool weather")
    assert call["status"] == "ERROR"
    assert call["attributes"]["error.type"] == "node_exception"
    assert call["attributes"]["penguiflow.tool.outcome"] == "node_exception"
    assert call["description"] is None  # the message is content: not recorded by default
    node = otel.one("node weather")
    assert node["status"] == "ERROR" and node["attributes"]["error.type"] == "node_exception"
    assert otel.one("invoke_agent assistant")["status"] == "UNSET"  # the run itself went on
    metrics = otel.metrics()
    (errors,) = points(metrics, "penguiflow.tool.errors", **{"gen_ai.tool.name": "weather"})
    assert errors.value == 1 and errors.attributes["error.type"] == "node_exception"
    (duration,) = points(metrics, "penguiflow.tool.duration", **{"error.type": "node_exception"})
    assert duration.count == 1


async def test_a_failing_model_request_marks_the_chat_and_the_run(otel: Collected) -> None:
    failure = LLMError("the provider is down", model="openai/gpt-4o-mini", status_code=503)
    planner = build_planner([failure])
    async with planner:
        with pytest.raises(LLMError):
            await planner.run("anything?")
    chat = otel.one("chat gpt-4o-mini")
    assert chat["status"] == "ERROR" and chat["attributes"]["error.type"] == "LLMError"
    run = otel.one("invoke_agent assistant")
    assert run["status"] == "ERROR" and run["attributes"]["error.type"] == "LLMError"
    metrics = otel.metrics()
    (duration,) = points(metrics, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "LLMError" and duration.count == 1
    assert "gen_ai.client.token.usage" not in metrics  # no usage was reported
    (run_duration,) = points(metrics, "penguiflow.run.duration")
    assert run_duration.attributes == {
        "penguiflow.run.outcome": "error",
        "gen_ai.agent.name": "assistant",
    }


async def test_a_pause_and_its_resume_stay_in_the_trace(
    otel: Collected, store: Any, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger")
    planner = build_planner([act("refund", {"order_id": 7}), final("refunded")], state_store=store)
    async with planner:
        paused = await planner.run("refund order 7", tool_context={"ledger": ledger})
        assert isinstance(paused, PlannerPause)
        assert points(otel.metrics(), "penguiflow.pauses.pending")[0].value == 1
        finished = await planner.resume(
            paused.resume_token, approve=True, tool_context={"ledger": ledger}
        )
    assert isinstance(finished, PlannerFinish)
    spans = otel.spans()
    first, second = sorted(otel.named("invoke_agent assistant"), key=lambda s: s["start"])
    assert first["attributes"]["penguiflow.run.outcome"] == "paused"
    pause = otel.one("pause")
    assert pause["parent_id"] == first["span_id"]
    assert pause["attributes"]["penguiflow.pause.id"] == paused.pause_id
    assert pause["attributes"]["penguiflow.pause.calls"] == ["call_1_0:refund:approval"]
    assert second["parent_id"] == pause["span_id"] and second["trace_id"] == first["trace_id"]
    assert second["attributes"]["penguiflow.run.entry"] == "resume"
    assert second["attributes"]["penguiflow.run.outcome"] == "answer_complete"
    resume = otel.one("resume")
    assert resume["parent_id"] == second["span_id"]
    assert resume["attributes"]["penguiflow.resume.decisions"] == ["call_1_0:approved"]
    assert [s["name"] for s in _children(spans, resume)] == ["execute_tool refund"]
    assert points(otel.metrics(), "penguiflow.pauses.pending")[0].value == 0


async def test_one_planner_can_have_its_own_telemetry() -> None:
    tracer_provider, exporter, meter_provider, _ = providers()
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    await _weather_run(telemetry=telemetry)
    names = sorted({span.name for span in exporter.get_finished_spans()})
    # Node spans come from the process-wide install only, which is off here.
    assert names == [
        "chat gpt-4o-mini",
        "execute_tool flaky",
        "execute_tool weather",
        "invoke_agent assistant",
    ]
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_after_uninstrument_nothing_is_reported() -> None:
    tracer_provider, exporter, meter_provider, reader = providers()
    instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    uninstrument()
    try:
        await _weather_run()
        assert exporter.get_finished_spans() == ()
        assert reader.get_metrics_data() is None
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def test_an_agent_is_traced_under_its_name() -> None:
    tracer_provider, exporter, meter_provider, _ = providers()
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)

    async def get_weather(city: str) -> str:
        """Current weather of a city."""
        return f"Sunny in {city}"

    async with Agent("test", tools=[get_weather], name="support", telemetry=telemetry) as agent:
        await agent.run("Weather in Paris?", session_id="session-1")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"invoke_agent support", "execute_tool get_weather"} <= set(spans)
    attributes = spans["invoke_agent support"].attributes or {}
    assert attributes["gen_ai.agent.name"] == "support"
    assert attributes["gen_ai.conversation.id"] == "session-1"
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_a_recovered_run_continues_the_trace_it_started_in(
    otel: Collected, store: Any
) -> None:
    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("started elsewhere"):
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
    state = RunState(query="weather in Paris?", extensions={"telemetry": carrier})
    await store.create_run(  # a run whose process died: its lease lapses at once
        run_id=state.run_id,
        state=state.model_dump(mode="json"),
        owner_id="dead-process",
        lease_s=0.01,
    )
    await asyncio.sleep(0.05)
    planner = build_planner([final("sunny")], state_store=store)
    async with planner:
        (recovered,) = await planner.recover_stale_runs()
    assert isinstance(recovered.result, PlannerFinish)
    run = otel.one("invoke_agent assistant")
    assert run["parent_id"] == otel.one("started elsewhere")["span_id"]
    assert run["attributes"]["penguiflow.run.entry"] == "recover"


async def test_native_tool_calls_report_their_finish_reason(otel: Collected) -> None:
    planner = build_planner(
        [tool_reply(("weather", {"city": "Paris"})), LLMResponse("Sunny in Paris")],
        tool_mode="native",
    )
    async with planner:
        await planner.run("weather in Paris?")
    first, second = sorted(otel.named("chat gpt-4o-mini"), key=lambda s: s["start"])
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert second["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


async def test_a_client_returning_text_and_cost_has_its_cost_on_the_chat_span(
    otel: Collected,
) -> None:
    class CostingClient:  # the documented (text, cost) return of complete()
        model = "gpt-4o-mini"

        async def complete(self, *, messages: Any, response_format: Any = None) -> Any:
            answer = {"next_node": "final_response", "args": {"answer": "hi"}}
            return json.dumps(answer), 0.0025

    async with ReactPlanner(llm_client=CostingClient(), catalog=[], name="assistant") as planner:
        result = await planner.run("Say hi")
    assert isinstance(result, PlannerFinish) and result.payload.raw_answer == "hi"
    chat = otel.one("chat gpt-4o-mini")
    assert chat["attributes"]["penguiflow.usage.cost_usd"] == 0.0025
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
