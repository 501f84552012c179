import asyncio

import pytest
from pydantic import BaseModel
from runtime_helpers import msg

from penguiflow import (
    CycleError,
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    QueueFullError,
    create,
)
from penguiflow.errors import ConfigError, FlowStateError, NodeSignatureError, UnknownTargetError
from penguiflow.flow import FlowState


async def add_one(message, ctx):
    return message.model_copy(update={"payload": message.payload + 1})


async def double(message, ctx):
    return message.model_copy(update={"payload": message.payload * 2})


async def test_envelope_chain_and_trace_scoped_fetch():
    a, b = Node(add_one, name="a"), Node(double, name="b")
    flow = create(a.to(b))
    flow.run()
    try:
        m1, m2 = msg(1), msg(10)
        await flow.emit(m1)
        await flow.emit(m2)
        r2 = await flow.fetch(trace_id=m2.trace_id)
        r1 = await flow.fetch(trace_id=m1.trace_id)
        assert (r1.payload, r2.payload) == (4, 22)
        assert r1.trace_id == m1.trace_id
    finally:
        await flow.stop()


async def test_payload_only_pipeline_stays_fifo():
    seen = []

    async def slow_first(x, ctx):
        await asyncio.sleep(0.02 if x == 0 else 0)
        seen.append(x)
        return x

    flow = create(Node(slow_first, name="n"))
    flow.run()
    try:
        for i in range(5):
            await flow.emit(i)
        results = [await flow.fetch() for _ in range(5)]
        assert results == [0, 1, 2, 3, 4]
        assert seen == [0, 1, 2, 3, 4]
    finally:
        await flow.stop()


async def test_fan_out_sends_to_every_successor():
    async def src(m, ctx):
        return m

    async def left(m, ctx):
        return m.model_copy(update={"payload": ("left", m.payload)})

    async def right(m, ctx):
        return m.model_copy(update={"payload": ("right", m.payload)})

    s, lft, r = Node(src, name="src"), Node(left, name="left"), Node(right, name="right")
    flow = create(s.to(lft, r), lft.to(), r.to())
    flow.run()
    try:
        m = msg(7)
        await flow.emit(m)
        got = {(await flow.fetch(trace_id=m.trace_id)).payload for _ in range(2)}
        assert got == {("left", 7), ("right", 7)}
    finally:
        await flow.stop()


def test_cycle_without_opt_in_is_refused():
    a, b = Node(add_one, name="a"), Node(double, name="b")
    with pytest.raises(CycleError, match="allow_cycles=True"):
        create(a.to(b), b.to(a))
    with pytest.raises(CycleError, match="edge to itself"):
        create(a.to(a))


def test_cycle_with_opt_in_is_accepted():
    a, b, c = Node(add_one, name="a"), Node(double, name="b"), Node(add_one, name="c")
    flow = create(a.to(b), b.to(c), c.to(b), allow_cycles=True)
    assert [n.name for n in flow.ingress_nodes] == ["a"]


def test_bad_node_functions_are_refused_with_the_fix():
    def sync(message, ctx):
        return message

    async def one_arg(message):
        return message

    with pytest.raises(NodeSignatureError, match="async def"):
        Node(sync)
    with pytest.raises(NodeSignatureError, match=r"\(message, ctx\)"):
        Node(one_arg)
    with pytest.raises(NodeSignatureError):
        Node("not callable")  # type: ignore[arg-type]


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="unique name"):
        create(Node(add_one, name="x").to(Node(double, name="x")))


def test_policy_rejects_bad_values_with_the_rule():
    with pytest.raises(ConfigError, match=r"timeout_s must be > 0 or None, got -1"):
        NodePolicy(timeout_s=-1)
    with pytest.raises(ConfigError, match="max_concurrency"):
        NodePolicy(max_concurrency=0)
    with pytest.raises(ConfigError, match="validate"):
        NodePolicy(validate="sometimes")  # type: ignore[arg-type]


async def test_emit_before_run_and_fetch_after_stop_are_errors():
    flow = create(Node(add_one, name="a"))
    with pytest.raises(FlowStateError, match=r"flow.run\(\) before"):
        await flow.emit(msg(1))
    with pytest.raises(FlowStateError, match=r"flow.run\(\) before"):
        await flow.fetch()
    flow.run()
    with pytest.raises(FlowStateError, match="runs once"):
        flow.run()
    await flow.stop()
    assert flow.state is FlowState.STOPPED
    with pytest.raises(FlowStateError, match="stopped"):
        await flow.fetch()
    with pytest.raises(FlowStateError):
        await flow.emit(msg(1))
    await flow.stop()  # idempotent


async def test_stop_wakes_waiting_fetchers():
    flow = create(Node(add_one, name="a"))
    flow.run()
    waiter = asyncio.create_task(flow.fetch(trace_id="never"))
    await asyncio.sleep(0)
    await flow.stop()
    with pytest.raises(FlowStateError):
        await waiter


async def test_unknown_emit_targets_name_the_valid_ones():
    a, b = Node(add_one, name="a"), Node(double, name="b")

    async def stray(m, ctx):
        await ctx.emit(m, to="a")

    s = Node(stray, name="stray")
    flow = create(a.to(b), s.to(b))
    flow.run()
    try:
        with pytest.raises(UnknownTargetError, match="ingress nodes: a, stray"):
            await flow.emit(msg(1), to="b")
        with pytest.raises(UnknownTargetError, match="not a node"):
            await flow.emit(msg(1), to="zzz")
        m = msg(1)
        await flow.emit(m, to=s)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
        assert info.value.node_name == "stray"
        assert "not one of its successors" in info.value.message
    finally:
        await flow.stop()


async def test_emit_nowait_raises_queue_full():
    gate = asyncio.Event()

    async def blocked(m, ctx):
        await gate.wait()
        return m

    flow = create(Node(blocked, name="n", policy=NodePolicy(max_concurrency=1)), queue_maxsize=1)
    flow.run()
    try:
        flow.emit_nowait(1)
        await asyncio.sleep(0.01)  # worker takes it
        flow.emit_nowait(2)
        with pytest.raises(QueueFullError):
            flow.emit_nowait(3)
        gate.set()
        assert [await flow.fetch(), await flow.fetch()] == [1, 2]
    finally:
        await flow.stop()


async def test_emit_mismatched_trace_id_is_refused():
    flow = create(Node(add_one, name="a"))
    flow.run()
    try:
        with pytest.raises(ConfigError, match="leave trace_id out"):
            await flow.emit(msg(1, trace_id="x"), trace_id="y")
    finally:
        await flow.stop()


class In(BaseModel):
    n: int


class Out(BaseModel):
    n: int


async def test_registry_validates_inputs_and_outputs():
    async def ok(m, ctx):
        return m.model_copy(update={"payload": Out(n=m.payload.n)})

    async def bad(m, ctx):
        return m.model_copy(update={"payload": {"n": "not a number"}})

    registry = ModelRegistry()
    registry.register("ok", In, Out)
    registry.register("bad", In, Out)
    flow = create(Node(ok, name="ok"), Node(bad, name="bad"))
    flow.run(registry=registry)
    try:
        good = msg({"n": 3})
        await flow.emit(good, to="ok")
        result = await flow.fetch(trace_id=good.trace_id)
        assert result.payload == Out(n=3)
        wrong_in = msg({"n": "x"})
        await flow.emit(wrong_in, to="ok")
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=wrong_in.trace_id)
        assert info.value.code is FlowErrorCode.VALIDATION_FAILED
        wrong_out = msg({"n": 1})
        await flow.emit(wrong_out, to="bad")
        with pytest.raises(FlowError, match="output of node 'bad'"):
            await flow.fetch(trace_id=wrong_out.trace_id)
    finally:
        await flow.stop()


async def test_egress_returning_none_reports_no_result_instead_of_hanging():
    async def sink(m, ctx):
        return None

    flow = create(Node(sink, name="sink"))
    flow.run()
    try:
        m = msg(1)
        await flow.emit(m)
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=m.trace_id, timeout=2)
        assert info.value.code is FlowErrorCode.NO_RESULT
    finally:
        await flow.stop()


async def test_fetch_timeout():
    flow = create(Node(add_one, name="a"))
    flow.run()
    try:
        with pytest.raises(TimeoutError):
            await flow.fetch(trace_id="nothing", timeout=0.01)
    finally:
        await flow.stop()


class TaggedMessage(Message):
    tag: str = "x"


async def test_message_subclasses_keep_their_trace_and_deadline():
    import time as _time

    async def echo(m, ctx):
        return m

    async def slow(m, ctx):
        await asyncio.sleep(10)

    flow = create(Node(echo, name="echo"), Node(slow, name="slow"))
    flow.run()
    try:
        m = TaggedMessage(payload=1, headers=Headers(tenant="t"))
        await flow.emit(m, to="echo")
        got = await flow.fetch(trace_id=m.trace_id, timeout=1)
        assert isinstance(got, TaggedMessage) and got.trace_id == m.trace_id
        late = TaggedMessage(payload=1, headers=Headers(tenant="t"), deadline_s=_time.time() + 0.02)
        await flow.emit(late, to="slow")
        with pytest.raises(FlowError) as info:
            await flow.fetch(trace_id=late.trace_id, timeout=2)
        assert info.value.code is FlowErrorCode.DEADLINE_EXCEEDED
    finally:
        await flow.stop()


async def test_a_fetch_that_times_out_leaves_no_waiter_behind():
    async def echo(m, ctx):
        return m

    flow = create(Node(echo, name="e"))
    flow.run()
    try:
        with pytest.raises(TimeoutError):
            await flow.fetch(trace_id="X", timeout=0.01)
        with pytest.raises(TimeoutError):
            await flow.fetch(timeout=0.01)
        # The waiters given up are gone: later results reach the next fetches.
        await flow.emit(msg("late", trace_id="X"))
        assert (await flow.fetch(trace_id="X", timeout=1)).payload == "late"
        await flow.emit(msg("any", trace_id="Y"))
        assert (await flow.fetch(timeout=1)).payload == "any"
    finally:
        await flow.stop()


async def test_a_stopped_flow_is_freed_once_dropped():
    """Flows built per job must not pile up: nothing keeps a stopped flow alive."""
    import gc
    import weakref

    a, b = Node(add_one, name="a"), Node(double, name="b")
    flow = create(a, b)
    flow.run()
    assert (await flow.call(msg(1, trace_id="t1"), to=a)).payload == 2
    await flow.emit(msg(2, trace_id="t2"), to=b)
    assert (await flow.fetch(trace_id="t2", timeout=1)).payload == 4
    await flow.stop()
    assert [n.name for n in flow.nodes] == ["a", "b"]  # still describes its graph
    gone = weakref.ref(flow)
    del flow
    await asyncio.sleep(0)  # the loop lets go of the cancelled workers
    gc.collect()
    assert gone() is None


async def test_a_context_kept_past_stop_raises_flow_state_error():
    kept = []

    async def keeper(m, ctx):
        kept.append(ctx)
        return m

    flow = create(Node(keeper, name="k"))
    flow.run()
    await flow.call(msg(1), to="k")
    await flow.stop()
    with pytest.raises(FlowStateError, match="stopped"):
        await kept[0].emit(msg(2))
    with pytest.raises(FlowStateError, match="stopped"):
        kept[0].emit_nowait(msg(3))


async def test_a_node_that_outlives_stop_can_still_use_its_context():
    """stop() keeps the runners linked while a call is still unwinding in its caller."""
    started, leftover = asyncio.Event(), asyncio.Event()
    errors: list[BaseException] = []

    async def stubborn(m, ctx):
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # ignores the stop and carries on
        try:
            await ctx.emit(m)
        except BaseException as exc:
            errors.append(exc)
        leftover.set()
        return m

    flow = create(Node(stubborn, name="s"))
    flow.run()
    caller = asyncio.create_task(flow.call(msg(1), to="s"))
    await started.wait()
    await flow.stop()
    await asyncio.wait_for(leftover.wait(), 2)
    assert all(isinstance(e, FlowStateError) for e in errors), errors  # dropped or refused
    done, _ = await asyncio.wait({caller}, timeout=2)
    assert done, "the caller was left waiting"
    if caller.exception() is not None:
        assert isinstance(caller.exception(), FlowStateError)


async def test_a_registry_that_misses_a_validating_node_is_refused_at_run():
    async def ok(m, ctx):
        return m

    registry = ModelRegistry()
    registry.register("known", In, Out)
    flow = create(
        Node(ok, name="known"),
        Node(ok, name="stranger"),  # validates by default, but has no models
        Node(ok, name="loose", policy=NodePolicy(validate="none")),
        Node(ok, name="half", policy=NodePolicy(validate="in")),
    )
    with pytest.raises(ConfigError) as info:
        flow.run(registry=registry)
    text = str(info.value)
    assert "'stranger'" in text and "'half'" in text and "'loose'" not in text
    assert "registry.register(" in text and "validate='none'" in text
    assert flow.state is FlowState.CREATED  # nothing started

    registry.register("stranger", In, Out)
    registry.register("half", In, Out)
    flow.run(registry=registry)
    try:
        bad = msg({"n": "x"})
        await flow.emit(bad, to="stranger")
        with pytest.raises(FlowError) as failed:
            await flow.fetch(trace_id=bad.trace_id, timeout=1)
        assert failed.value.code is FlowErrorCode.VALIDATION_FAILED
        loose = msg({"n": "x"})
        await flow.emit(loose, to="loose")  # not validated
        assert (await flow.fetch(trace_id=loose.trace_id, timeout=1)).payload == {"n": "x"}
    finally:
        await flow.stop()


async def test_without_a_registry_nothing_is_validated():
    async def ok(m, ctx):
        return m

    flow = create(Node(ok, name="any"))
    flow.run()
    try:
        assert (await flow.call(msg({"n": "not a number"}), to="any")).payload == {
            "n": "not a number"
        }
    finally:
        await flow.stop()


async def test_stats_report_traces_queues_and_workers():
    import dataclasses

    gate = asyncio.Event()

    async def held(m, ctx):
        await gate.wait()
        return m

    node = Node(held, name="held", policy=NodePolicy(max_concurrency=2))
    flow = create(node, queue_maxsize=3)
    before = flow.stats()
    assert before.state is FlowState.CREATED and before.traces == 0
    flow.run()
    try:
        for i in range(5):  # two run, three wait
            await flow.emit(msg(i, trace_id=f"t{i}"))
        extra = asyncio.create_task(flow.emit(msg(5, trace_id="t5")))
        for _ in range(5):
            await asyncio.sleep(0)
        stats = flow.stats()
        held_stats = stats.nodes["held"]
        assert stats.traces == 6  # t5 counts from the moment its emit waits for room
        assert (held_stats.queue_depth, held_stats.capacity) == (3, 3)
        assert (held_stats.busy, held_stats.workers) == (2, 2)
        assert held_stats.producers_waiting == 1
        assert held_stats.peak_depth == 3
        with pytest.raises(dataclasses.FrozenInstanceError):
            held_stats.busy = 0  # type: ignore[misc]
        gate.set()
        await extra
        for i in range(6):
            await flow.fetch(trace_id=f"t{i}", timeout=1)
        after = flow.stats()
        assert after.traces == 0
        assert (after.nodes["held"].queue_depth, after.nodes["held"].busy) == (0, 0)
    finally:
        await flow.stop()
    assert flow.stats().state is FlowState.STOPPED
