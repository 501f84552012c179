import asyncio
import time
from typing import Literal

import pytest
from pydantic import BaseModel
from runtime_helpers import msg

from penguiflow import (
    WM,
    FinalAnswer,
    FlowError,
    FlowErrorCode,
    Node,
    NodePolicy,
    StreamChunk,
    TraceCancelled,
    call_playbook,
    create,
    map_concurrent,
    predicate_router,
    union_router,
)


async def test_stream_chunks_are_numbered_and_followed_by_final_answer():
    async def speaker(m, ctx):
        for word in ["one", "two", "three"]:
            await ctx.emit_chunk(parent=m, text=word, meta={"w": word})
        await ctx.emit_chunk(parent=m, text="", done=True)
        return m.model_copy(update={"payload": FinalAnswer(text="one two three")})

    flow = create(Node(speaker, name="speaker"))
    flow.run()
    try:
        m1, m2 = msg("go"), msg("go")
        await flow.emit(m1)
        await flow.emit(m2)
        for m in (m1, m2):
            chunks = [(await flow.fetch(trace_id=m.trace_id)).payload for _ in range(4)]
            assert all(isinstance(c, StreamChunk) for c in chunks)
            assert [c.seq for c in chunks] == [0, 1, 2, 3]
            assert [c.text for c in chunks[:3]] == ["one", "two", "three"]
            assert chunks[-1].done and {c.stream_id for c in chunks} == {m.trace_id}
            final = await flow.fetch(trace_id=m.trace_id)
            assert final.payload == FinalAnswer(text="one two three")
    finally:
        await flow.stop()


async def test_emit_chunk_requires_an_envelope():
    async def bad(m, ctx):
        await ctx.emit_chunk(parent=m, text="x")

    flow = create(Node(bad, name="bad"))
    flow.run()
    try:
        await flow.emit("payload", trace_id="p")
        with pytest.raises(FlowError, match="envelope"):
            await flow.fetch(trace_id="p", timeout=1)
    finally:
        await flow.stop()


def make_subflow(behaviour):
    async def sub(m, ctx):
        if behaviour == "fail":
            raise ValueError("sub failed")
        if behaviour == "hang":
            await asyncio.sleep(10)
        if behaviour == "none":
            return None
        return m.model_copy(update={"payload": f"sub:{m.payload}"})

    created = []

    def playbook():
        flow = create(Node(sub, name="sub"))
        created.append(flow)
        return flow

    return playbook, created


async def test_call_playbook_returns_the_subflow_result_and_stops_it():
    playbook, created = make_subflow("ok")

    async def parent(m, ctx):
        payload = await ctx.call_playbook(playbook, m)  # the payload of the subflow's result
        return m.model_copy(update={"payload": payload})

    flow = create(Node(parent, name="parent"))
    flow.run()
    try:
        m = msg("x")
        await flow.emit(m)
        assert (await flow.fetch(trace_id=m.trace_id, timeout=2)).payload == "sub:x"
    finally:
        await flow.stop()
    assert created[0].state.value == "stopped"


@pytest.mark.parametrize(
    "behaviour,code", [("fail", FlowErrorCode.NODE_EXCEPTION), ("none", FlowErrorCode.NO_RESULT)]
)
async def test_call_playbook_propagates_failures_instead_of_hanging(behaviour, code):
    playbook, created = make_subflow(behaviour)
    with pytest.raises(FlowError) as info:
        await asyncio.wait_for(call_playbook(playbook, msg("x")), 2)
    assert info.value.code is code
    assert created[0].state.value == "stopped"


async def test_cancelling_the_parent_cancels_the_subflow():
    playbook, created = make_subflow("hang")

    async def parent(m, ctx):
        return await ctx.call_playbook(playbook, m)

    flow = create(Node(parent, name="parent"))
    flow.run()
    try:
        m = msg("x")
        await flow.emit(m)
        await asyncio.sleep(0.05)
        assert created
        await flow.cancel(m.trace_id)
        with pytest.raises(TraceCancelled):
            await flow.fetch(trace_id=m.trace_id, timeout=1)
    finally:
        await flow.stop()
    assert created[0].state.value == "stopped"


async def test_call_playbook_timeout():
    playbook, created = make_subflow("hang")
    with pytest.raises(TimeoutError):
        await call_playbook(playbook, msg("x"), timeout=0.02)
    assert created[0].state.value == "stopped"


async def test_controller_loop_finishes_with_final_answer_and_is_not_reinvoked():
    calls = []

    async def controller(m, ctx):
        wm = m.payload
        calls.append(wm.hops)
        if len(wm.facts) >= 3:
            return m.model_copy(update={"payload": FinalAnswer(text=",".join(wm.facts))})
        return m.model_copy(
            update={"payload": wm.model_copy(update={"facts": [*wm.facts, f"f{wm.hops}"]})}
        )

    node = Node(controller, name="controller", allow_cycle=True)
    flow = create(node.to(node))
    flow.run()
    try:
        m = msg(WM(query="q", budget_hops=10))
        await flow.emit(m)
        result = await flow.fetch(trace_id=m.trace_id, timeout=2)
        assert result.payload.text == "f0,f1,f2"
        await asyncio.sleep(0.02)
    finally:
        await flow.stop()
    assert calls == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "wm,text,calls",
    [
        (WM(query="q", budget_hops=3), "Hop budget exhausted", 3),
        (WM(query="q", budget_hops=None, budget_tokens=25), "Token budget exhausted", 3),
    ],
)
async def test_controller_budgets_end_the_loop_with_a_final_answer(wm, text, calls):
    seen = []
    budget_events = []

    async def controller(m, ctx):
        w = m.payload
        seen.append(w.hops)
        return m.model_copy(
            update={"payload": w.model_copy(update={"tokens_used": w.tokens_used + 10})}
        )

    async def record(event):
        if event.event_type == "budget_exceeded":
            budget_events.append(event)

    node = Node(controller, name="controller")
    flow = create(node.to(node), allow_cycles=True, middlewares=[record])
    flow.run()
    try:
        m = msg(wm)
        await flow.emit(m)
        result = await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert result.payload == FinalAnswer(text=text)
    assert result.trace_id == m.trace_id
    assert seen == list(range(calls))
    assert [e.error for e in budget_events] == [text]
    assert "wm" in budget_events[0].extra


async def test_controller_deadline_budget():
    async def controller(m, ctx):
        await asyncio.sleep(0.01)
        return m

    node = Node(controller, name="controller")
    flow = create(node.to(node), allow_cycles=True)
    flow.run()
    try:
        m = msg(WM(query="q", budget_hops=None), deadline_s=time.time() + 0.05)
        await flow.emit(m)
        result = await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert result.payload == FinalAnswer(text="Deadline exceeded")


async def test_a_plain_message_past_its_deadline_still_fails_its_trace():
    async def slow(m, ctx):
        await asyncio.sleep(1)
        return m

    flow = create(Node(slow, name="slow"))
    flow.run()
    try:
        m = msg("x", deadline_s=time.time() + 0.02)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
    finally:
        await flow.stop()
    assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED


async def test_predicate_router_routes_to_named_successors():
    async def tag(name):
        async def fn(m, ctx):
            return m.model_copy(update={"payload": (name, m.payload)})

        return Node(fn, name=name)

    small, big = await tag("small"), await tag("big")
    router = predicate_router("router", lambda m: "big" if m.payload > 10 else [small])
    flow = create(router.to(small, big), small.to(), big.to())
    flow.run()
    try:
        a, b = msg(3), msg(30)
        await flow.emit(a)
        await flow.emit(b)
        assert (await flow.fetch(trace_id=a.trace_id, timeout=1)).payload == ("small", 3)
        assert (await flow.fetch(trace_id=b.trace_id, timeout=1)).payload == ("big", 30)
    finally:
        await flow.stop()


class Search(BaseModel):
    kind: Literal["search"]
    q: str


class Fetch(BaseModel):
    kind: Literal["fetch"]
    url: str


async def test_union_router_routes_by_variant_and_rejects_unknown_payloads():
    async def search(m, ctx):
        return m.model_copy(update={"payload": f"searched {m.payload.q}"})

    async def fetch(m, ctx):
        return m.model_copy(update={"payload": f"fetched {m.payload.url}"})

    router = union_router("router", Search | Fetch)
    s, f = Node(search, name="Search"), Node(fetch, name="Fetch")
    flow = create(router.to(s, f), s.to(), f.to())
    flow.run()
    try:
        a, b, c = (
            msg({"kind": "search", "q": "penguins"}),
            msg({"kind": "fetch", "url": "u"}),
            msg({"kind": "?"}),
        )
        for m in (a, b, c):
            await flow.emit(m)
        assert (await flow.fetch(trace_id=a.trace_id, timeout=1)).payload == "searched penguins"
        assert (await flow.fetch(trace_id=b.trace_id, timeout=1)).payload == "fetched u"
        with pytest.raises(FlowError, match="matches no variant"):
            await flow.fetch(trace_id=c.trace_id, timeout=1)
    finally:
        await flow.stop()


async def test_map_concurrent_keeps_order_limits_concurrency_and_raises_single_error():
    running = peak = 0

    async def work(x):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (5 - x % 5))
        running -= 1
        if x == 99:
            raise KeyError("bad item")
        return x * 2

    assert await map_concurrent(list(range(10)), work, max_concurrency=3) == [
        x * 2 for x in range(10)
    ]
    assert peak == 3
    with pytest.raises(KeyError, match="bad item"):
        await map_concurrent([1, 99, 2], work)


async def test_ctx_fetch_reads_the_next_message_of_the_same_trace():
    async def pair(m, ctx):
        nxt = await ctx.fetch()
        return m.model_copy(update={"payload": (m.payload, nxt.payload)})

    flow = create(Node(pair, name="pair", policy=NodePolicy(max_concurrency=4)))
    flow.run()
    try:
        await flow.emit(msg("a1", trace_id="A"))
        await flow.emit(msg("b1", trace_id="B"))
        await flow.emit(msg("a2", trace_id="A"))
        await flow.emit(msg("b2", trace_id="B"))
        assert (await flow.fetch(trace_id="A", timeout=1)).payload == ("a1", "a2")
        assert (await flow.fetch(trace_id="B", timeout=1)).payload == ("b1", "b2")
    finally:
        await flow.stop()
