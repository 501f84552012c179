"""Routing patterns and policy-driven routing (``DictRoutingPolicy``, ``RoutingRequest``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from penguiflow import (
    DictRoutingPolicy,
    FlowError,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    RoutingPolicy,
    RoutingRequest,
    create,
    join_k,
    predicate_router,
    union_router,
)
from penguiflow.errors import ConfigError


def tagger(name: str) -> Node:
    async def tag(message: Message, ctx) -> Message:
        return message.model_copy(update={"payload": f"{name}:{message.payload}"})

    return Node(tag, name=name, policy=NodePolicy(validate="none"))


def envelope(payload: object, trace_id: str) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"), trace_id=trace_id)


async def run(flow, messages: list[Message], registry: ModelRegistry | None = None) -> dict:
    flow.run(registry=registry)
    try:
        for message in messages:
            await flow.emit(message)
        return {
            m.trace_id: (await asyncio.wait_for(flow.fetch(trace_id=m.trace_id), 2)).payload
            for m in messages
        }
    finally:
        await flow.stop()


async def test_a_dict_policy_overrides_the_predicate_per_trace() -> None:
    policy = DictRoutingPolicy({"vip": "fast"}, default=None)
    router = predicate_router("router", lambda m: ["slow"], policy=policy)
    fast, slow = tagger("fast"), tagger("slow")
    results = await run(
        create(router.to(fast, slow)),
        [envelope("a", "vip"), envelope("b", "regular")],
        registry=ModelRegistry(),  # routers validate nothing: no registration needed
    )
    assert results == {"vip": "fast:a", "regular": "slow:b"}


async def test_a_policy_function_sees_the_request_and_can_drop_a_message() -> None:
    requests: list[RoutingRequest] = []

    async def policy(request: RoutingRequest):
        requests.append(request)
        return [] if request.message.payload == "spam" else None

    router = predicate_router("router", lambda m: "inbox", policy=policy)
    inbox = tagger("inbox")
    flow = create(router.to(inbox))
    flow.run()
    try:
        await flow.emit(envelope("spam", "t1"))
        await flow.emit(envelope("mail", "t2"))
        assert (await asyncio.wait_for(flow.fetch(trace_id="t2"), 2)).payload == "inbox:mail"
        with pytest.raises(FlowError, match="no_result"):
            await asyncio.wait_for(flow.fetch(trace_id="t1"), 2)  # dropped: nothing came out
    finally:
        await flow.stop()
    assert requests[0].node_name == "router" and requests[0].proposed_names == ("inbox",)
    assert requests[0].trace_id == "t1"


class Search(BaseModel):
    kind: Literal["search"] = "search"
    q: str


class Fetch(BaseModel):
    kind: Literal["fetch"] = "fetch"
    url: str


Request = Annotated[Search | Fetch, Field(discriminator="kind")]


async def test_union_router_routes_by_the_discriminator_kind() -> None:
    router = union_router("router", Request)
    search, fetch = tagger("search"), tagger("fetch")
    results = await run(
        create(router.to(search, fetch)),
        [envelope({"kind": "search", "q": "p"}, "s"), envelope({"kind": "fetch", "url": "u"}, "f")],
    )
    assert results["s"].startswith("search:") and results["f"].startswith("fetch:")


async def test_union_router_consults_its_policy_with_the_validated_variant() -> None:
    class Everything:
        def select(self, request: RoutingRequest):
            assert isinstance(request.message, Search)
            return ["archive"]

    assert isinstance(Everything(), RoutingPolicy)
    router = union_router("router", Request, policy=Everything())
    results = await run(
        create(router.to(tagger("search"), tagger("archive"))),
        [envelope({"kind": "search", "q": "p"}, "s")],
    )
    assert results["s"].startswith("archive:")


def test_dict_policy_loads_from_json_files_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"acme": "fast"}), encoding="utf-8")
    by_tenant = DictRoutingPolicy.from_json_file(
        path, key_getter=lambda request: request.message.headers.tenant
    )
    request = RoutingRequest(
        message=envelope("x", "t"), context=None, node=tagger("r"), proposed=(), trace_id="t"
    )
    assert by_tenant.select(request) == "fast"
    by_tenant.update_mapping({"acme": "slow"})
    assert by_tenant.select(request) == "slow"

    monkeypatch.setenv("ROUTES", json.dumps({"t": ["a", "b"]}))
    from_env = DictRoutingPolicy.from_env("ROUTES", default="c")
    assert from_env.select(request) == ["a", "b"]
    from_env.set_default("d")
    assert DictRoutingPolicy.from_json("{}", default="d").select(request) == "d"
    with pytest.raises(KeyError, match="NOT_SET"):
        DictRoutingPolicy.from_env("NOT_SET")
    with pytest.raises(ConfigError, match="mapping"):
        DictRoutingPolicy.from_json("[1, 2]")


def test_a_node_policy_given_as_the_routing_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="node_policy="):
        predicate_router("router", lambda m: None, policy=NodePolicy())  # type: ignore[arg-type]


async def test_join_k_needs_no_registration_either() -> None:
    async def fan_out(message: Message, ctx) -> None:
        for part in ("a", "b"):
            await ctx.emit(message.model_copy(update={"payload": part}))

    source = Node(fan_out, name="source", policy=NodePolicy(validate="none"))
    join = join_k("join", 2)
    results = await run(create(source.to(join)), [envelope("x", "j")], registry=ModelRegistry())
    assert sorted(results["j"]) == ["a", "b"]
