"""A changed tool definition is visible on NodeSpecs handed out before the change."""

import asyncio

from penguiflow.tools import ToolNode


async def test_specs_held_by_a_planner_see_the_current_fingerprint(demo_config):
    changed = asyncio.Event()
    cfg = demo_config(require_approval=["echo"])
    async with ToolNode(cfg, on_tools_changed=lambda specs: changed.set()) as tn:
        catalog = {s.name: s for s in tn.specs}  # what a planner keeps from construction
        echo, add = catalog["demo.echo"], catalog["demo.add"]
        approved = echo.extra["fingerprint"]
        assert echo.requires_approval is True and add.requires_approval is False
        assert echo.extra["approved_fingerprint"] == approved
        assert echo.extra["definition_changed"] is False

        await tn.call("mutate")
        await asyncio.wait_for(changed.wait(), 10)

        # The old spec objects carry the live metadata: compare fingerprints at resume.
        assert echo.extra["fingerprint"] != approved
        assert echo.extra["approved_fingerprint"] == approved
        assert echo.extra["definition_changed"] is True
        assert add.extra["definition_changed"] is False
        assert add.extra["fingerprint"] == add.extra["approved_fingerprint"]
        assert tn.changed_tools == ["demo.echo"]
