"""ToolNode against a real MCP server run as a stdio subprocess (one shared server)."""

import asyncio
import json
import pickle

import pytest
import pytest_asyncio
from toolsupport import demo_settings, eventually, read_text

from penguiflow import Headers, Message, Node
from penguiflow.tools import ToolNode, ToolResult
from penguiflow.tools.errors import (
    ToolArgumentsError,
    ToolExecutionError,
    ToolResponseError,
    ToolTimeoutError,
)
from penguiflow.tools.node import ToolNodeState

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tn():
    cfg = demo_settings(
        require_approval=["create_*"],
        max_concurrency=4,
        max_inline_bytes=1000,
        max_response_bytes=50_000,
        tool_timeouts={"slow": 2.0},
        retry={"attempts": 1},
    )
    async with ToolNode(cfg) as node:
        yield node
    assert node.state is ToolNodeState.CLOSED


def spec_of(tn, name):
    return next(s for s in tn.specs if s.name == name)


async def test_discovery_builds_specs_for_allowed_tools(tn):
    assert tn.state is ToolNodeState.CONNECTED
    names = {s.name for s in tn.specs}
    assert {"demo.add", "demo.echo", "demo.create_order", "demo.slow"} <= names
    assert "demo.shout" not in names  # denied
    spec = spec_of(tn, "demo.create_order")
    assert isinstance(spec.node, Node) and spec.node.name == "demo.create_order"
    assert spec.node.policy.max_retries == 0
    assert spec.node.policy.max_concurrency == 4
    assert spec.requires_approval is True
    assert spec.out_model is ToolResult
    # The catalog sees the server's schema unchanged (nested $defs, enum, required).
    assert spec.args_schema["$defs"]["Item"]["required"] == ["sku"]
    assert spec.args_schema["properties"]["priority"]["enum"] == ["low", "high"]
    add = spec_of(tn, "demo.add")
    assert add.requires_approval is False
    assert add.side_effects == "read" and add.extra["idempotent"] is True
    assert spec_of(tn, "demo.echo").side_effects == "external"
    assert spec_of(tn, "demo.slow").node.policy.timeout_s < spec.node.policy.timeout_s


async def test_node_function_takes_messages_models_and_dicts(tn):
    spec = spec_of(tn, "demo.add")
    msg = Message(payload={"a": 2, "b": 3}, headers=Headers(tenant="t"))
    out = await spec.node.func(msg, None)
    assert isinstance(out, Message) and out.trace_id == msg.trace_id
    assert out.payload.structured == {"result": 5}
    result = await spec.node.func(spec.args_model(a=1, b=1), None)
    assert result.text == "2" and result.tool == "demo.add"
    assert (await tn.call("demo.add", {"a": 0, "b": 7})).structured == {"result": 7}


async def test_omitted_optional_fields_are_not_sent(tn):
    spec = spec_of(tn, "demo.inspect_args")
    result = await spec.node.func(spec.args_model(required="x"), None)
    # The server's own default applies, so the field was not sent as null.
    assert json.loads(result.text) == {"required": "x", "optional": "server-default", "flag": None}
    result = await spec.node.func(spec.args_model(required="x", optional="mine"), None)
    assert json.loads(result.text)["optional"] == "mine"


async def test_schema_invalid_args_are_rejected_before_the_call(tn, tmp_path):
    marker = tmp_path / "marker"
    pid = (await tn.call("pid")).structured["result"]
    with pytest.raises(ToolArgumentsError) as info:
        await tn.call("crash_write", {"marker": 123})
    assert "at 'marker'" in str(info.value) and info.value.retryable is False
    with pytest.raises(ToolArgumentsError) as info:
        await tn.call(
            "create_order",
            {"customer": {"name": "a"}, "items": [{"qty": "x"}], "priority": "urgent"},
        )
    text = str(info.value)
    assert "items[0]" in text and "priority" in text and "'sku' is a required" in text
    assert read_text(marker) is None
    assert (await tn.call("pid")).structured["result"] == pid  # nothing crashed it
    ok = await tn.call(
        "create_order", {"customer": {"name": "ann"}, "items": [{"sku": "a", "qty": 2}]}
    )
    assert json.loads(ok.text) == {"customer": "ann", "count": 2, "priority": "low"}


async def test_parallel_calls_from_many_tasks(tn):
    results = await asyncio.gather(
        *(tn.call("slow", {"seconds": 0.05}) for _ in range(8)),
        *(tn.call("add", {"a": i, "b": i}) for i in range(8)),
    )
    assert [r.text for r in results[:8]] == ["done"] * 8
    assert [r.structured["result"] for r in results[8:]] == [2 * i for i in range(8)]


async def test_timeout_cancels_the_call_on_the_server(tn, tmp_path):
    marker = tmp_path / "cancelled"
    with pytest.raises(ToolTimeoutError) as info:
        await tn.call("slow", {"seconds": 60, "marker": str(marker)})
    assert info.value.retryable is True and isinstance(info.value, TimeoutError)
    await eventually(lambda: read_text(marker) == "cancelled")
    assert (await tn.call("add", {"a": 1, "b": 1})).text == "2"


async def test_tool_errors_are_classified_and_pickle(tn):
    with pytest.raises(ToolExecutionError) as info:
        await tn.call("fail", {"reason": "kaboom"})
    err = info.value
    assert err.retryable is False and err.attempts == 1
    assert (err.tool, err.server, err.qualified_name) == ("fail", "demo", "demo.fail")
    assert "kaboom" in err.message
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is ToolExecutionError and copy.to_dict() == err.to_dict()


async def test_images_become_references_with_size_limits(tn):
    small = (await tn.call("picture", {"size": 8})).refs[0]
    assert small.kind == "image" and small.inline and small.data
    big = (await tn.call("picture", {"size": 20_000})).refs[0]
    assert big.inline is False and big.data is None and big.size_bytes == 20_004
    with pytest.raises(ToolResponseError):
        await tn.call("echo", {"text": "y" * 60_000})


@pytest.mark.parametrize("tool_mode", ["json", "native"])
async def test_the_model_sees_each_result_once(tn, tool_mode):
    from penguiflow.planner.react import ReactPlanner
    from penguiflow.planner.testing import ScriptedLLM

    llm = ScriptedLLM(
        [
            {
                "next_node": "parallel",
                "args": {
                    "steps": [
                        {"node": "demo.add", "args": {"a": 2, "b": 3}},
                        {"node": "demo.echo", "args": {"text": "hi"}},
                        {"node": "demo.picture", "args": {"size": 4}},
                    ]
                },
            },
            {"next_node": "final_response", "args": {"answer": "5"}},
        ]
    )
    names = {"demo.add", "demo.echo", "demo.picture"}
    catalog = [spec for spec in tn.specs if spec.name in names]
    async with ReactPlanner(llm_client=llm, catalog=catalog, tool_mode=tool_mode) as planner:
        result = await planner.run("add 2 and 3")
    branches = result.metadata["steps"][0]["observation"]["branches"]
    add, echo, picture = (branch["result"] for branch in branches)
    # structured content only (MCP also sends it as text), no empty fields
    assert add == {"result": 5}
    assert echo == {"result": "hi"}
    assert set(picture) == {"refs"} and picture["refs"][0]["mime_type"] == "image/png"
    sent = json.dumps(llm.requests[1].messages)
    assert sent.count('\\"result\\":5') == 1
    for noise in ("structured", '\\"status\\":', '\\"tool\\":'):
        assert noise not in sent
