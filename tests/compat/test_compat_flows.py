"""The documented quickstart: typed nodes, a registry, emit and fetch; nodes and graphs."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create
from penguiflow.core import CycleError, PenguiFlow
from penguiflow.errors import NodeSignatureError


class TriageIn(BaseModel):
    text: str


class TriageOut(BaseModel):
    text: str
    topic: str


class RetrieveOut(BaseModel):
    topic: str
    docs: list[str]


class PackOut(BaseModel):
    prompt: str


async def triage(msg: TriageIn, ctx) -> TriageOut:
    topic = "metrics" if "metric" in msg.text else "general"
    return TriageOut(text=msg.text, topic=topic)


async def retrieve(msg: TriageOut, ctx) -> RetrieveOut:
    return RetrieveOut(topic=msg.topic, docs=[f"doc_{i}_{msg.topic}" for i in range(2)])


async def pack(msg: RetrieveOut, ctx) -> PackOut:
    return PackOut(prompt=f"[{msg.topic}] summarize {len(msg.docs)} docs")


async def test_the_quickstart_runs_unchanged() -> None:
    triage_node = Node(triage, name="triage", policy=NodePolicy(validate="both"))
    retrieve_node = Node(retrieve, name="retrieve", policy=NodePolicy(validate="both"))
    pack_node = Node(pack, name="pack", policy=NodePolicy(validate="both"))

    registry = ModelRegistry()
    registry.register("triage", TriageIn, TriageOut)
    registry.register("retrieve", TriageOut, RetrieveOut)
    registry.register("pack", RetrieveOut, PackOut)

    flow = create(triage_node.to(retrieve_node), retrieve_node.to(pack_node))
    flow.run(registry=registry)
    try:
        await flow.emit(TriageIn(text="show marketing metrics"))
        out = await flow.fetch()
    finally:
        await flow.stop()
    assert out == PackOut(prompt="[metrics] summarize 2 docs")


async def test_envelopes_keep_their_trace_and_meta() -> None:
    async def stamp(message: Message, ctx) -> Message:
        message.meta["seen_by"] = "stamp"
        return message.model_copy(update={"payload": message.payload.upper()})

    flow = create(Node(stamp, name="stamp", policy=NodePolicy(validate="none")))
    flow.run()
    try:
        msg = Message(payload="hi", headers=Headers(tenant="acme"))
        msg.meta["request_id"] = "abc123"
        await flow.emit(msg)
        out = await flow.fetch()
    finally:
        await flow.stop()
    assert (out.payload, out.trace_id) == ("HI", msg.trace_id)
    assert out.meta == {"request_id": "abc123", "seen_by": "stamp"}


def test_node_takes_name_and_policy_positionally_like_the_dataclass() -> None:
    policy = NodePolicy(validate="none", timeout_s=5)
    node = Node(triage, "triage", policy)
    assert (node.name, node.policy) == ("triage", policy)
    assert Node(triage).name == "triage"


def test_a_sync_node_function_is_refused_with_the_documented_message() -> None:
    def sync(message, ctx):
        return message

    with pytest.raises(TypeError, match="Node function must be declared with async def"):
        Node(sync)


def test_a_node_with_the_wrong_parameters_is_a_value_error() -> None:
    async def one(message):
        return message

    with pytest.raises(ValueError, match=r"must accept exactly two parameters \(message, ctx\)"):
        Node(one, name="one")
    with pytest.raises(NodeSignatureError):
        Node(one, name="one")


def test_cycles_need_allow_cycles_and_the_error_is_a_runtime_error() -> None:
    async def a_fn(message, ctx):
        return message

    start, a, b = Node(a_fn, name="start"), Node(a_fn, name="a"), Node(a_fn, name="b")
    with pytest.raises(RuntimeError, match="cycle"):
        create(start.to(a), a.to(b), b.to(a))
    with pytest.raises(CycleError):
        create(start.to(a), a.to(b), b.to(a))
    assert isinstance(create(start.to(a), a.to(b), b.to(a), allow_cycles=True), PenguiFlow)


async def test_middlewares_none_and_documented_keywords_are_accepted() -> None:
    async def echo(message, ctx):
        return message

    flow = create(
        Node(echo, name="echo"),
        queue_maxsize=8,
        allow_cycles=False,
        middlewares=None,
        emit_errors_to_rookery=False,
    )
    flow.run()
    try:
        await flow.emit("x")
        assert await flow.fetch() == "x"
    finally:
        await flow.stop()


def test_the_registry_hands_out_its_adapters() -> None:
    registry = ModelRegistry()
    registry.register("triage", TriageIn, TriageOut)
    in_adapter, out_adapter = registry.adapters("triage")
    assert in_adapter.validate_python({"text": "t"}) == TriageIn(text="t")
    assert out_adapter.validate_python({"text": "t", "topic": "x"}).topic == "x"
    with pytest.raises(KeyError):
        registry.adapters("missing")
