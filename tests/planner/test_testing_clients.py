"""ScriptedLLM, FunctionLLM and TestLLM, and the schema-value derivation behind TestLLM."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import itertools
import json
import random
import re
import uuid
from typing import Annotated, Any, Literal, Optional

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from penguiflow import ModelRegistry, Node, build_catalog
from penguiflow.catalog import NodeSpec
from penguiflow.errors import ConfigError, UsageError
from penguiflow.planner._regex_sample import sample_pattern
from penguiflow.planner._schema_values import UnsatisfiableSchemaError, sample_value
from penguiflow.planner.errors import ScriptExhaustedError
from penguiflow.planner.llm_types import LLMClient, LLMResponse, Usage
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.testing import FunctionLLM, ScriptedLLM, TestLLM, called_tools

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]


class Chunks:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def __call__(self, text: str, done: bool) -> None:
        self.seen.append((text, done))

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.seen)


# -- ScriptedLLM -----------------------------------------------------------------------


async def test_scripted_llm_replies_in_order_and_records_requests() -> None:
    usage_reply = LLMResponse("{}", usage=Usage(prompt_tokens=3, completion_tokens=1))
    llm = ScriptedLLM(["first", {"next_node": "x", "args": {}}, usage_reply])
    assert isinstance(llm, LLMClient) and llm.remaining == 3

    messages = [dict(m) for m in MESSAGES]
    assert await llm.complete(messages=messages) == "first"
    messages.append({"role": "user", "content": "more"})
    messages[0]["content"] = "changed"
    second = await llm.complete(messages=messages, response_format={"type": "json_object"})
    assert json.loads(second) == {"next_node": "x", "args": {}}  # type: ignore[arg-type]
    assert await llm.complete(messages=messages) is usage_reply

    assert llm.remaining == 0 and len(llm.requests) == 3
    first_request = llm.requests[0]
    assert first_request.messages == MESSAGES  # a copy, not the caller's list
    assert first_request.response_format is None
    assert llm.requests[1].response_format == {"type": "json_object"}
    assert llm.requests[1].last_message == "more"


async def test_scripted_llm_raises_scripted_exceptions() -> None:
    llm = ScriptedLLM([TimeoutError("slow"), ValueError, "ok"])
    with pytest.raises(TimeoutError, match="slow"):
        await llm.complete(messages=MESSAGES)
    with pytest.raises(ValueError):
        await llm.complete(messages=MESSAGES)
    assert await llm.complete(messages=MESSAGES) == "ok"


async def test_scripted_llm_out_of_replies_says_how_many() -> None:
    llm = ScriptedLLM(["a", "b"])
    await llm.complete(messages=MESSAGES)
    await llm.complete(messages=MESSAGES)
    with pytest.raises(ScriptExhaustedError) as info:
        await llm.complete(messages=[{"role": "user", "content": "third question"}])
    err = info.value
    assert isinstance(err, UsageError)
    assert (err.replies, err.request_number) == (2, 3)
    assert "given 2 replies" in str(err) and "request #3" in str(err)
    assert "third question" in str(err)
    assert len(llm.requests) == 3


def test_scripted_llm_rejects_a_single_string() -> None:
    with pytest.raises(ConfigError, match="wrap it in a list"):
        ScriptedLLM("oops")  # type: ignore[arg-type]


async def test_scripted_llm_streams_in_chunks() -> None:
    text = json.dumps({"next_node": "final_response", "args": {"answer": "a long answer"}})
    llm = ScriptedLLM([text, "plain"])
    chunks = Chunks()
    assert await llm.complete(messages=MESSAGES, stream=True, on_stream_chunk=chunks) == text
    assert len(chunks.seen) >= 3 and chunks.seen[-1] == ("", True)
    assert all(not done for _, done in chunks.seen[:-1])
    assert chunks.text == text
    # no callback, or stream=False: nothing is delivered
    assert await llm.complete(messages=MESSAGES, on_stream_chunk=chunks) == "plain"
    assert chunks.text == text


async def test_concurrent_calls_take_distinct_replies() -> None:
    llm = ScriptedLLM([str(i) for i in range(20)])
    replies = await asyncio.gather(*(llm.complete(messages=MESSAGES) for _ in range(20)))
    assert sorted(replies, key=int) == [str(i) for i in range(20)]  # type: ignore[arg-type]


# -- FunctionLLM -----------------------------------------------------------------------


async def test_function_llm_sync_and_async() -> None:
    def sync_fn(messages: list[dict[str, Any]], fmt: dict[str, Any] | None) -> Any:
        return {"n": len(messages), "fmt": fmt}

    async def async_fn(messages: list[dict[str, Any]], fmt: dict[str, Any] | None) -> Any:
        await asyncio.sleep(0)
        return LLMResponse(f"async {len(messages)}", cost_usd=0.5)

    class Callable_:
        async def __call__(self, messages: list[dict[str, Any]], fmt: Any) -> str:
            return "object"

    llm = FunctionLLM(sync_fn)
    assert isinstance(llm, LLMClient)
    reply = await llm.complete(messages=MESSAGES, response_format={"type": "json_object"})
    assert json.loads(reply) == {"n": 2, "fmt": {"type": "json_object"}}  # type: ignore[arg-type]
    assert len(llm.requests) == 1

    async_reply = await FunctionLLM(async_fn).complete(messages=MESSAGES)
    assert isinstance(async_reply, LLMResponse) and async_reply.text == "async 2"
    assert await FunctionLLM(Callable_()).complete(messages=MESSAGES) == "object"


async def test_function_llm_errors_propagate_and_bad_returns_are_named() -> None:
    def boom(messages: Any, fmt: Any) -> str:
        raise RuntimeError("fn failed")

    with pytest.raises(RuntimeError, match="fn failed"):
        await FunctionLLM(boom).complete(messages=MESSAGES)
    with pytest.raises(TypeError, match="got int"):
        await FunctionLLM(lambda m, f: 42).complete(messages=MESSAGES)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="needs a function"):
        FunctionLLM("nope")  # type: ignore[arg-type]


async def test_function_llm_streams_with_async_callback() -> None:
    seen: list[str] = []

    async def on_chunk(text: str, done: bool) -> None:
        seen.append("<done>" if done else text)

    reply = await FunctionLLM(lambda m, f: "streamed reply").complete(
        messages=MESSAGES, stream=True, on_stream_chunk=on_chunk
    )
    assert reply == "streamed reply"
    assert "".join(seen[:-1]) == "streamed reply" and seen[-1] == "<done>"


def test_offline_clients_are_not_collected_by_pytest() -> None:
    assert ScriptedLLM.__test__ is False
    assert FunctionLLM.__test__ is False
    assert TestLLM.__test__ is False


# -- TestLLM ---------------------------------------------------------------------------


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Address(BaseModel):
    street: str = Field(min_length=3, max_length=40)
    zip_code: str = Field(pattern=r"^\d{5}(-\d{4})?$")
    country: Literal["FR", "DE", "US"] = "US"


class Ticket(BaseModel):
    title: Annotated[str, Field(min_length=10, max_length=12)]
    priority: Priority
    tags: list[Annotated[str, Field(min_length=2)]] = Field(min_length=2, max_length=4)
    score: float = Field(gt=0.5, lt=0.75)
    count: int = Field(ge=7, le=7)
    step: int = Field(multiple_of=5, gt=12, lt=30)
    ratio: float = Field(multiple_of=0.25, ge=1)
    address: Address
    alt: Address | None = None
    due: datetime.date
    at: datetime.datetime
    ident: uuid.UUID
    amount: decimal.Decimal
    pair: tuple[int, str]
    unique: set[int] = Field(min_length=3)
    labels: dict[str, int]
    picks: dict[Literal["a", "b"], Priority]
    kind: Literal["ticket"] = "ticket"
    blob: bytes
    code: str = Field(pattern=r"^[A-Z]{3}-[0-9]{2,4}$")


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Tree(BaseModel):
    name: str
    children: list[Tree] = Field(default_factory=list)
    parent: Optional[Tree]  # noqa: UP045 - a required, nullable recursive field


class Pets(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    others: list[Cat | Dog] = Field(min_length=1)
    tree: Tree


class Empty(BaseModel):
    pass


class Out(BaseModel):
    ok: bool = True


async def _tool(message: Any, ctx: Any) -> Any:
    return {"ok": True}


def make_catalog(*models: tuple[str, type[BaseModel]]) -> list[NodeSpec]:
    registry = ModelRegistry()
    nodes = []
    for name, model in models:
        nodes.append(Node(_tool, name=name))
        registry.register(name, model, Out)
    return build_catalog(nodes, registry)


CATALOG_MODELS: list[tuple[str, type[BaseModel]]] = [
    ("file_ticket", Ticket),
    ("adopt", Pets),
    ("ping", Empty),
    ("ship", Address),
]


@pytest.fixture
def catalog() -> list[NodeSpec]:
    return make_catalog(*CATALOG_MODELS)


def echo(messages: list[dict[str, Any]], reply: str) -> list[dict[str, Any]]:
    """What the planner appends after an action: the action and an observation."""
    action = json.loads(reply)
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": f"Observation (step 1, {action['next_node']}): {{}}"},
    ]


async def drive(llm: TestLLM, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    actions = []
    for _ in range(10):
        reply = await llm.complete(messages=messages)
        assert isinstance(reply, str)
        action = json.loads(reply)
        actions.append(action)
        if action["next_node"] == "final_response":
            return actions
        messages = echo(messages, reply)
        await asyncio.sleep(0)
    raise AssertionError(f"TestLLM did not finish: {actions}")


async def test_test_llm_calls_each_tool_once_then_answers(catalog: list[NodeSpec]) -> None:
    llm = TestLLM(catalog, final_answer="finished")
    assert isinstance(llm, LLMClient)
    actions = await drive(llm, list(MESSAGES))
    assert [a["next_node"] for a in actions] == [
        "file_ticket", "adopt", "ping", "ship", "final_response",
    ]  # fmt: skip
    assert actions[-1]["args"] == {"answer": "finished"}
    by_name = {spec.name: spec for spec in catalog}
    for action in actions[:-1]:
        spec = by_name[action["next_node"]]
        spec.args_model.model_validate_json(json.dumps(action["args"]))
        spec.args_model.model_validate(action["args"])
    assert llm.planned_actions == actions


async def test_test_llm_args_respect_tricky_bounds(catalog: list[NodeSpec]) -> None:
    args = TestLLM(catalog).planned_actions[0]["args"]
    assert 10 <= len(args["title"]) <= 12
    assert 0.5 < args["score"] < 0.75 and args["count"] == 7
    assert args["step"] % 5 == 0 and 12 < args["step"] < 30
    assert re.fullmatch(r"[A-Z]{3}-[0-9]{2,4}", args["code"])
    assert len(set(args["unique"])) >= 3


async def test_test_llm_is_deterministic_per_seed(catalog: list[NodeSpec]) -> None:
    assert TestLLM(catalog, seed=3).planned_actions == TestLLM(catalog, seed=3).planned_actions
    seeds = {json.dumps(TestLLM(catalog, seed=s).planned_actions) for s in range(5)}
    assert len(seeds) > 1


async def test_one_test_llm_serves_concurrent_runs(catalog: list[NodeSpec]) -> None:
    llm = TestLLM(catalog)
    runs = await asyncio.gather(*(drive(llm, list(MESSAGES)) for _ in range(8)))
    expected = [a["next_node"] for a in llm.planned_actions]
    for actions in runs:
        assert [a["next_node"] for a in actions] == expected


async def test_test_llm_reads_compacted_summaries_and_ignores_system(
    catalog: list[NodeSpec],
) -> None:
    llm = TestLLM(catalog)
    messages = [
        {"role": "system", "content": 'example: {"next_node": "file_ticket", "args": {}}'},
        {"role": "user", "content": "Earlier steps:\n- step 1: file_ticket({...}) -> ok"},
        {"role": "assistant", "content": [{"type": "text", "text": '{"next_node":"adopt"}'}]},
    ]
    assert called_tools(messages) == {"file_ticket", "adopt"}
    reply = await llm.complete(messages=messages)
    assert json.loads(reply)["next_node"] == "ping"  # type: ignore[arg-type]


async def test_test_llm_options(catalog: list[NodeSpec]) -> None:
    llm = TestLLM(
        catalog,
        call_tools=["ship", "ping"],
        args={"ship": {"street": "Main", "zip_code": "12345"}},
        final_answer={"answer": "x", "confidence": 0.9},
    )
    names = [a["next_node"] for a in llm.planned_actions]
    assert names == ["ping", "ship", "final_response"]  # catalog order
    assert llm.planned_actions[1]["args"] == {"street": "Main", "zip_code": "12345"}
    assert llm.planned_actions[-1]["args"] == {"answer": "x", "confidence": 0.9}
    with pytest.raises(ConfigError, match="unknown tool 'nope'"):
        TestLLM(catalog, call_tools=["nope"])
    with pytest.raises(ConfigError, match="unknown tool 'nope'"):
        TestLLM(catalog, args={"nope": {}})


async def test_test_llm_streams(catalog: list[NodeSpec]) -> None:
    chunks = Chunks()
    reply = await TestLLM(catalog).complete(messages=MESSAGES, stream=True, on_stream_chunk=chunks)
    assert chunks.text == reply and chunks.seen[-1] == ("", True)


def test_test_llm_names_the_field_it_cannot_satisfy() -> None:
    class Strange(BaseModel):
        ok: int
        code: str = Field(pattern=r"^\p{Greek}{3}$")

    with pytest.raises(ConfigError) as info:
        TestLLM(make_catalog(("strange", Strange)))
    assert "'strange'" in str(info.value) and "code" in str(info.value)
    assert "args=" in str(info.value)


async def test_test_llm_drives_the_react_planner(catalog: list[NodeSpec]) -> None:
    llm = TestLLM(catalog, final_answer="planner done")
    async with ReactPlanner(llm_client=llm, catalog=catalog, max_iters=10) as planner:
        finishes = await asyncio.gather(*(planner.run(f"query {i}") for i in range(3)))
    for finish in finishes:
        assert finish.reason == "answer_complete", finish.metadata
        assert finish.payload is not None and finish.payload.raw_answer == "planner done"
        assert finish.metadata["step_count"] == len(catalog)


@pytest.mark.parametrize(
    ("tool_mode", "json_schema_mode"), [("native", True), ("json", True), ("json", False)]
)
async def test_test_llm_without_a_catalog_reads_the_request(
    catalog: list[NodeSpec], tool_mode: str, json_schema_mode: bool
) -> None:
    """Native: the request's tools; JSON: the strict schema, or the prompt's tool list."""
    llm = TestLLM(final_answer="read from the request")
    async with ReactPlanner(
        llm_client=llm,
        catalog=catalog,
        max_iters=10,
        tool_mode=tool_mode,  # type: ignore[arg-type]
        json_schema_mode=json_schema_mode,
    ) as planner:
        finish = await planner.run("query")
    assert finish.reason == "answer_complete", finish.metadata
    assert finish.payload is not None and finish.payload.raw_answer == "read from the request"
    steps = finish.metadata["steps"]
    assert [s["action"]["next_node"] for s in steps] == [spec.name for spec in catalog]
    assert all(s["kind"] == "tool" and s["error"] is None for s in steps)
    assert repr(llm) == "TestLLM(tools=None, seed=0)"


@pytest.mark.parametrize("tool_mode", ["native", "json"])
async def test_test_llm_answers_a_final_response_model(tool_mode: str) -> None:
    class Verdict(BaseModel):
        answer: str
        score: int = Field(ge=1, le=5)
        tags: list[str]

    catalog = make_catalog(("ping", Empty))
    async with ReactPlanner(
        llm_client=TestLLM(final_answer="typed", call_tools=["ping"]),
        catalog=catalog,
        final_response_model=Verdict,
        tool_mode=tool_mode,  # type: ignore[arg-type]
    ) as planner:
        finish = await planner.run("query")
    assert finish.payload is not None
    verdict = finish.payload.structured
    assert isinstance(verdict, Verdict) and verdict.answer == "typed" and 1 <= verdict.score <= 5
    assert finish.metadata["step_count"] == 1


async def test_test_llm_without_a_catalog_names_unknown_tools() -> None:
    llm = TestLLM(call_tools=["nope"])
    async with ReactPlanner(
        llm_client=llm, catalog=make_catalog(("ping", Empty)), tool_mode="native"
    ) as planner:
        with pytest.raises(ConfigError, match="unknown tool 'nope'; the tools are ping"):
            await planner.run("query")
    with pytest.raises(ConfigError, match="without a catalog"):
        _ = llm.planned_actions


# -- schema values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[A-Z]{3}$",
        r"^\d{4}-\d{2}-\d{2}$",
        r"^[a-z0-9_]+$",
        r"^(foo|bar)-\d+$",
        r"^\w+@\w+\.com$",
        r"^[^\s]+$",
        r"^(?:[01]\d|2[0-3]):[0-5]\d$",
        r"(ab)\1x",
        r"^a.c?$",
        r"[^a-z]{2,}",
    ],
)
def test_regex_sampler(pattern: str) -> None:
    for variant in range(3):
        text = sample_pattern(pattern, 0, None, random.Random(variant), variant)
        assert text is not None and re.search(pattern, text), (pattern, text)


def test_regex_sampler_respects_lengths_and_gives_up_cleanly() -> None:
    text = sample_pattern(r"^[a-z]+$", 6, 8, random.Random(0))
    assert text is not None and 6 <= len(text) <= 8
    assert sample_pattern(r"^[a-z]{10}$", 0, 5, random.Random(0)) is None
    assert sample_pattern(r"(", 0, None, random.Random(0)) is None


def test_sample_value_errors_name_the_path() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 2}},
    }
    # optional and unsatisfiable: dropped
    assert sample_value(schema) == {}
    with pytest.raises(UnsatisfiableSchemaError, match=r"^a: no integer"):
        sample_value({**schema, "required": ["a"]})
    with pytest.raises(UnsatisfiableSchemaError, match="does not resolve"):
        sample_value({"$ref": "#/$defs/Missing"})


_counter = itertools.count()
_NAME = st.text(alphabet="abcdefghij", min_size=1, max_size=4)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def _int_type(low: int, span: int, step: int) -> Any:
    if step > 1:
        return Annotated[int, Field(ge=low, le=low + span + step, multiple_of=step)]
    return Annotated[int, Field(ge=low, le=low + span)]


_SCALARS = st.one_of(
    st.builds(_int_type, st.integers(-1000, 1000), st.integers(0, 50), st.integers(1, 7)),
    st.builds(
        lambda low, span: Annotated[float, Field(gt=low, lt=low + span)],
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(0.01, 1e3),
    ),
    st.builds(
        lambda low, extra: Annotated[str, Field(min_length=low, max_length=low + extra)],
        st.integers(0, 20),
        st.integers(0, 5),
    ),
    st.builds(
        lambda pattern: Annotated[str, Field(pattern=pattern)],
        st.sampled_from([r"^[A-Z]{2,3}$", r"^\d+(\.\d{2})?$", r"^(x|y|z)_[a-f0-9]{4}$"]),
    ),
    st.builds(lambda values: Literal[tuple(values)], st.lists(_NAME, min_size=1, max_size=4, unique=True)),
    st.sampled_from(
        [bool, int, float, str, datetime.datetime, datetime.date, datetime.time, uuid.UUID,
         decimal.Decimal, Color, bytes, datetime.timedelta, Any]
    ),
)  # fmt: skip


def _model(fields: list[tuple[Any, bool]]) -> type[BaseModel]:
    spec: dict[str, Any] = {}
    for index, (annotation, required) in enumerate(fields):
        spec[f"f{index}"] = (annotation, ...) if required else (Optional[annotation], None)  # noqa: UP045
    return create_model(f"Generated{next(_counter)}", **spec)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda t: list[t], inner),
        st.builds(
            lambda t, n: Annotated[list[t], Field(min_length=n, max_length=n + 2)],
            inner,
            st.integers(0, 3),
        ),
        st.builds(lambda t: Optional[t], inner),  # noqa: UP045
        st.builds(lambda t: dict[str, t], inner),
        st.builds(lambda a, b: tuple[a, b], inner, inner),
        st.builds(lambda a, b: a | b, inner, inner),
        st.builds(_model, st.lists(st.tuples(inner, st.booleans()), min_size=1, max_size=4)),
    )


_TYPES = st.recursive(_SCALARS, _containers, max_leaves=10)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(st.tuples(_TYPES, st.booleans()), min_size=1, max_size=6),
    seed=st.integers(0, 10_000),
)
def test_derived_args_validate_against_generated_models(
    fields: list[tuple[Any, bool]], seed: int
) -> None:
    try:
        model = _model(fields)
        schema = model.model_json_schema()
    except Exception:  # a combination pydantic itself refuses (e.g. unhashable unions)
        reject()
    args = sample_value(schema, seed=seed)
    model.model_validate_json(json.dumps(args))
