"""Dynamic controller loops, as documented: ``WM`` working memory, ``FinalAnswer``, budgets."""

from __future__ import annotations

import asyncio
import time

import pytest

from penguiflow import WM, FinalAnswer, FlowEvent, Headers, Message, Node, PlanStep, Thought, create


def controller_flow(controller, **kwargs):
    node = Node(controller, name="controller", allow_cycle=True)
    return create(node.to(node), **kwargs)


def wm_message(wm: WM, **kwargs) -> Message:
    return Message(payload=wm, headers=Headers(tenant="acme"), **kwargs)


async def run_loop(controller, message: Message, **kwargs) -> Message:
    flow = controller_flow(controller, **kwargs)
    flow.run()
    try:
        await flow.emit(message)
        return await asyncio.wait_for(flow.fetch(), 2)
    finally:
        await flow.stop()


async def test_a_controller_loops_on_wm_and_finishes_with_a_final_answer() -> None:
    hops_seen = []

    async def controller(msg: Message, ctx) -> Message:
        wm = msg.payload
        hops_seen.append(wm.hops)
        if len(wm.facts) == 3:
            return msg.model_copy(update={"payload": FinalAnswer(text=" ".join(wm.facts))})
        facts = [*wm.facts, f"fact{len(wm.facts)}"]
        return msg.model_copy(update={"payload": wm.model_copy(update={"facts": facts})})

    out = await run_loop(controller, wm_message(WM(query="q")))
    assert out.payload == FinalAnswer(text="fact0 fact1 fact2")
    assert hops_seen == [0, 1, 2, 3]  # the runtime counts the hops


async def test_the_hop_budget_ends_the_loop_with_the_documented_final_answer() -> None:
    calls = []

    async def controller(msg: Message, ctx) -> Message:
        calls.append(msg.payload.hops)
        return msg  # never finishes on its own

    out = await run_loop(controller, wm_message(WM(query="q", budget_hops=4)))
    assert out.payload == FinalAnswer(text="Hop budget exhausted")
    assert calls == [0, 1, 2, 3]


async def test_a_controller_that_counts_its_own_hops_is_not_counted_twice() -> None:
    calls = []

    async def controller(msg: Message, ctx) -> Message:
        wm = msg.payload
        calls.append(wm.hops)
        return msg.model_copy(update={"payload": wm.model_copy(update={"hops": wm.hops + 1})})

    out = await run_loop(controller, wm_message(WM(query="q", budget_hops=3)))
    assert out.payload.text == "Hop budget exhausted"
    assert calls == [0, 1, 2]


async def test_the_token_budget_ends_the_loop_when_it_is_reached() -> None:
    async def controller(msg: Message, ctx) -> Message:
        wm = msg.payload
        return msg.model_copy(
            update={"payload": wm.model_copy(update={"tokens_used": wm.tokens_used + 50})}
        )

    wm = WM(query="q", budget_hops=None, budget_tokens=100)
    out = await run_loop(controller, wm_message(wm))
    assert out.payload == FinalAnswer(text="Token budget exhausted")


async def test_the_deadline_ends_the_loop_with_deadline_exceeded() -> None:
    async def controller(msg: Message, ctx) -> Message:
        await asyncio.sleep(0.01)
        return msg

    message = wm_message(WM(query="q", budget_hops=None), deadline_s=time.time() + 0.05)
    out = await run_loop(controller, message)
    assert out.payload == FinalAnswer(text="Deadline exceeded")
    assert out.trace_id == message.trace_id


async def test_a_loop_already_past_its_deadline_answers_without_running() -> None:
    calls = []

    async def controller(msg: Message, ctx) -> Message:
        calls.append(msg)
        return msg

    message = wm_message(WM(query="q"), deadline_s=time.time() - 1)
    out = await run_loop(controller, message)
    assert out.payload == FinalAnswer(text="Deadline exceeded") and calls == []


async def test_budgets_are_reported_as_events() -> None:
    events: list[FlowEvent] = []

    async def record(event: FlowEvent) -> None:
        events.append(event)

    async def controller(msg: Message, ctx) -> Message:
        return msg

    await run_loop(controller, wm_message(WM(query="q", budget_hops=2)), middlewares=[record])
    spent = [e for e in events if e.event_type == "budget_exceeded"]
    assert len(spent) == 1 and spent[0].extra["hops"] == 2


async def test_controllers_can_carry_thoughts_and_plan_steps() -> None:
    async def controller(msg: Message, ctx) -> Message:
        wm = msg.payload
        if wm.facts:
            return msg.model_copy(update={"payload": FinalAnswer(text=wm.facts[0].rationale)})
        thought = Thought(
            steps=[PlanStep(kind="retrieve", args={"q": wm.query})], rationale="look it up"
        )
        update = {"facts": [thought], "confidence": 0.5}
        return msg.model_copy(update={"payload": wm.model_copy(update=update)})

    out = await run_loop(controller, wm_message(WM(query="penguins")))
    assert out.payload.text == "look it up"
    with pytest.raises(ValueError):
        PlanStep(kind="teleport")
