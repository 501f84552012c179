"""oauth2_user through a ReactPlanner: pause with the authorisation URL, callback, resume."""

import json

import pytest
from test_oauth_user import KEY, account_config, consent
from toolsupport import oauth_module

from penguiflow.planner import PlannerFinish, ReactPlanner, ScriptedLLM
from penguiflow.planner.pause import PlannerPause
from penguiflow.sessions import SqlSessionStore
from penguiflow.tools import ToolNode, complete_authorization

CALL = {"next_node": "acct.me", "args": {"item": "book"}}
FINAL = {"next_node": "final_response", "args": {"answer": "done"}}


@pytest.fixture(autouse=True)
def oauth_env(monkeypatch):
    monkeypatch.setenv("PF_TEST_OAUTH_SECRET", oauth_module.CLIENT_SECRET)
    monkeypatch.setenv("PF_TEST_TOKEN_KEY", KEY)


async def test_planner_pauses_for_authorisation_and_resumes(oauth_provider, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/planner.sqlite3"
    async with SqlSessionStore(url) as store:
        async with ToolNode(account_config(oauth_provider), credential_store=store) as node:
            llm = ScriptedLLM([CALL, CALL, FINAL])
            planner = ReactPlanner(llm_client=llm, catalog=node.specs, state_store=store)
            async with planner:
                first = await planner.run(
                    "what is mine?", tool_context={"user_id": "hana"}, tenant_id="t9"
                )
                assert isinstance(first, PlannerPause)
                assert first.reason == "oauth2_authorization"
                assert first.payload["user_id"] == "hana" and first.payload["tenant_id"] == "t9"
                assert first.payload["run_id"] == first.run_id

                state, code = await consent(first.payload["authorization_url"], "hana")
                done = await complete_authorization(store, state, code, tools=node, user_id="hana")
                assert done.run_id == first.run_id

                final = await planner.resume(
                    first.resume_token,
                    user_input={"authorized": True},
                    tenant_id="t9",
                    tool_context={"user_id": "hana"},
                )
                assert isinstance(final, PlannerFinish), final
                assert final.payload.raw_answer == "done"
                observation = final.metadata["steps"][-1]["observation"]
                assert json.dumps(observation).count("hana") >= 1


async def test_an_agent_gives_its_store_to_oauth2_user_tools(oauth_provider, tmp_path):
    from penguiflow import Agent
    from penguiflow.tools import ExternalToolConfig

    config = ExternalToolConfig.model_validate(account_config(oauth_provider))
    store_url = f"sqlite+aiosqlite:///{tmp_path}/agent.sqlite3"
    llm = ScriptedLLM([CALL, CALL, FINAL])
    async with Agent(llm_client=llm, tools=[config], store=store_url) as agent:
        first = await agent.run("what is mine?", tool_context={"user_id": "hana"})
        assert isinstance(first, PlannerPause) and first.reason == "oauth2_authorization"
        state, code = await consent(first.payload["authorization_url"], "hana")
        await complete_authorization(agent.store, state, code, tools=config, user_id="hana")
        final = await agent.resume(
            first.resume_token, user_input={"authorized": True}, tool_context={"user_id": "hana"}
        )
    assert isinstance(final, PlannerFinish), final
    assert "hana" in json.dumps(final.metadata["steps"][-1]["observation"])


async def test_an_agent_with_an_oauth2_user_tool_and_no_store_says_to_give_it_one(
    oauth_provider,
):
    from penguiflow import Agent
    from penguiflow.errors import ConfigError
    from penguiflow.tools import ExternalToolConfig

    config = ExternalToolConfig.model_validate(account_config(oauth_provider))
    agent = Agent(llm_client=ScriptedLLM([FINAL]), tools=[config])
    with pytest.raises(ConfigError, match=r"'acct' uses oauth2_user auth.*Agent\(\.\.\., store="):
        await agent.run("what is mine?")
    await agent.aclose()
