"""The LLM client behind an ``Agent``'s planner, and ``agent.override(llm=...)``.

The planner is built once, with an :class:`AgentLLM`. Each call goes to the client that
``override`` set in the current context (a ``ContextVar``, so concurrent tests do not
see each other's overrides), else to the agent's own client. ``"test"`` names the
offline :class:`~penguiflow.planner.testing.TestLLM`, which calls the tools each request
offers (so a run's ``tool_policy`` holds for it too).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from ..errors import ConfigError

__all__ = ["TEST_MODEL", "AgentLLM", "make_override"]

TEST_MODEL = "test"
"""``Agent(model="test")``: the offline TestLLM (calls each tool once, then answers)."""

NO_MODEL = (
    "the Agent has no model: pass Agent(model='openai/gpt-4o-mini') (any LiteLLM model "
    "string), Agent(llm_client=...), Agent(model='test') to run offline, or run inside "
    "`with agent.override(llm=...)`"
)


def _is_client(value: Any) -> bool:
    return callable(getattr(value, "complete", None))


def make_override(llm: Any, temperature: float) -> Any:
    """Check a value given to ``agent.override(llm=...)`` and return what to call.

    Args:
        llm: an LLM client object, ``"test"``, or a LiteLLM model string or params dict.
        temperature: for a client built from a model string.

    Raises:
        ConfigError: ``llm`` is none of these.
    """
    if llm == TEST_MODEL or _is_client(llm):
        return llm
    if isinstance(llm, str | Mapping):
        from ._config import make_client

        return make_client(llm, None, temperature)
    raise ConfigError(
        "agent.override(llm=...) takes an LLM client (such as TestLLM or ScriptedLLM), "
        f"'test', or a LiteLLM model string, got {type(llm).__name__}"
    )


class AgentLLM:
    """Forwards the planner's calls to the overriding client, else the agent's own.

    Attributes:
        base: the agent's own client, ``"test"``, or ``None`` (no model).
    """

    def __init__(self, override: ContextVar[Any]) -> None:
        self.base: Any = None
        self._override = override
        self._test: Any = None

    def active(self) -> Any:
        """The client of the current context (``None`` when there is none)."""
        chosen = self._override.get()
        if chosen is None:
            chosen = self.base
        if isinstance(chosen, str):  # TEST_MODEL, the one string kept unresolved
            if self._test is None:
                from .testing import TestLLM

                self._test = TestLLM()
            chosen = self._test
        return chosen

    async def complete(self, **request: Any) -> Any:
        """Send the request to the active client.

        Raises:
            ConfigError: the agent has no model and no override is active.
        """
        client = self.active()
        if client is None:
            raise ConfigError(NO_MODEL)
        return await client.complete(**request)

    def __getattr__(self, name: str) -> Any:
        # The planner reads optional attributes (model, context_window...) of its client.
        if name.startswith("_"):
            raise AttributeError(name)
        client = self.active()
        if client is None:
            raise AttributeError(name)
        return getattr(client, name)

    def __repr__(self) -> str:
        return f"AgentLLM(base={self.base!r})"
