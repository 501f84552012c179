"""ToolNode lifecycle, exports, and ToolNode nodes inside a running flow."""

import asyncio

import pytest
from toolsupport import TOKEN

import penguiflow.tools as tools
from penguiflow import FlowError, Headers, Message, create
from penguiflow.tools import ToolNode, ToolResult
from penguiflow.tools.errors import ToolNodeStateError
from penguiflow.tools.node import ToolNodeState


def api_config(base_url, **overrides):
    schema = {
        "type": "object",
        "properties": {"item_id": {"type": "string"}},
        "required": ["item_id"],
    }
    cfg = {
        "name": "shop",
        "transport": "http",
        "base_url": base_url,
        "operations": [{"name": "get_item", "path": "/items/{item_id}", "args_schema": schema}],
        "allow": ["get_*"],
        "require_approval": ["shop.get_item"],
        "auth": {"type": "bearer", "token": TOKEN},
        "retry": {"attempts": 1},
    }
    cfg.update(overrides)
    return cfg


def test_exports_are_sorted_and_real():
    assert tools.__all__ == sorted(tools.__all__)
    for name in tools.__all__:
        assert getattr(tools, name) is not None


async def test_flow_runs_a_tool_node_end_to_end(http_api):
    async with ToolNode(api_config(http_api.url)) as tn:
        (spec,) = tn.specs
        assert spec.requires_approval is True
        flow = create(spec.node.to())
        flow.run()
        try:
            msg = Message(payload={"item_id": "42"}, headers=Headers(tenant="t"))
            await flow.emit(msg)
            out = await flow.fetch(trace_id=msg.trace_id, timeout=20)
            assert isinstance(out.payload, ToolResult)
            assert out.payload.structured == {"id": "42", "q": None}
            bad = Message(payload={"item_id": "1"}, headers=Headers(tenant="t"))
            http_api.state.valid_tokens.clear()
            await flow.emit(bad.model_copy(update={"payload": {"nope": 1}}))
            with pytest.raises(FlowError) as info:
                await flow.fetch(trace_id=bad.trace_id, timeout=20)
            assert info.value.node_name == "shop.get_item"
        finally:
            await flow.stop()


async def test_lifecycle_states_and_reprs(http_api):
    tn = ToolNode(api_config(http_api.url))
    assert tn.state is ToolNodeState.NEW
    with pytest.raises(ToolNodeStateError, match="connect"):
        await tn.call("get_item", {"item_id": "1"})
    specs = await tn.connect()
    assert await tn.connect() == specs  # connected: same specs
    assert TOKEN not in repr(tn) and TOKEN not in repr(tn.config)
    await tn.close()
    await tn.close()
    assert tn.state is ToolNodeState.CLOSED
    with pytest.raises(ToolNodeStateError, match="new ToolNode"):
        await tn.connect()


async def test_close_while_calls_are_in_flight(http_api):
    schema = {"type": "object", "properties": {"s": {"type": "number"}}}
    cfg = api_config(
        http_api.url,
        operations=[{"name": "get_sleep", "path": "/sleep", "args_schema": schema}],
    )
    tn = ToolNode(cfg)
    await tn.connect()
    call = asyncio.create_task(tn.call("get_sleep", {"s": 30}))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await tn.close()
    assert tn.state is ToolNodeState.CLOSED


def test_a_result_written_as_json_keeps_one_form() -> None:
    from penguiflow.tools import ContentRef, ToolResult

    both = ToolResult(tool="s.t", structured={"n": 1}, text='{"n": 1}')
    assert both.model_dump(mode="json") == {"n": 1}  # the text only repeats it
    assert both.model_dump()["text"] == '{"n": 1}'  # Python keeps every field
    assert ToolResult(tool="s.t", text="plain").model_dump(mode="json") == "plain"
    failed = ToolResult(tool="s.t", structured={"error": "gone"}, status=404)
    assert failed.model_dump(mode="json") == {"content": {"error": "gone"}, "status": 404}
    ok = ToolResult(tool="s.t", structured=[1], status=200)
    assert ok.model_dump_json() == "[1]"
    image = ContentRef(kind="image", mime_type="image/png", size_bytes=3)
    with_ref = ToolResult(tool="s.t", text="see", refs=[image]).model_dump(mode="json")
    assert with_ref == {
        "content": "see",
        "refs": [{"kind": "image", "mime_type": "image/png", "size_bytes": 3, "inline": False}],
    }
