"""How a planner writes its requests: native tool calls or JSON actions, per model.

``tool_mode="json"`` walks the JSON ladder (strict schema, generic schema, JSON object,
prompt only), ``"native"`` only sends tools, and ``"auto"`` puts native tool calls
first when the client declares that its model handles them. A mode the provider
rejects is left for good, per model (:class:`~penguiflow.planner.schema.FormatMemory`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from ..catalog import NodeSpec
from ..errors import ConfigError
from ._context import Dialect
from ._native import ToolNames, native_step_messages, tool_definitions
from .llm_types import ToolChoice, accepts_tools, declares_tool_calling
from .prompts import PlanningHints, build_native_system_prompt, build_system_prompt, step_messages
from .schema import FORMAT_MODES, ActionSchemas, FormatMemory, FormatMode
from .tokens import TokenAccountant

__all__ = ["RequestModes", "ToolMode"]

ToolMode = Literal["auto", "native", "json"]
"""How the planner speaks to the model: native tool calls, JSON actions, or chosen per model."""


class RequestModes:
    """The dialects of one planner, the mode each model gets, and what each mode costs.

    Args:
        client: the LLM client.
        tool_mode: ``"auto"``, ``"native"`` or ``"json"``.
        json_schema_mode: whether the JSON ladder starts with the strict schema.
        specs: the catalog.
        schemas: the catalog's action schemas.
        final_response_model: the typed answer, if any.
        max_parallel: calls of one step running at once.
        hints: planning hints.
        extra: ``system_prompt_extra``.
        tokens: the planner's token accountant.
        tool_choice: the ``tool_choice`` forced until the run's first tool step: a tool
            name or ``"required"`` (``None``: none forced).
        shared: the planner's main modes, whose request-mode memory this one shares (for
            the narrower tool views of runs with their own ``tool_policy``).

    Raises:
        ConfigError: an unknown ``tool_mode`` or ``tool_choice``, or ``"native"`` with a
            client that does not take ``tools``.
    """

    def __init__(
        self,
        *,
        client: Any,
        tool_mode: ToolMode,
        json_schema_mode: bool,
        specs: Sequence[NodeSpec],
        schemas: ActionSchemas,
        final_response_model: type[BaseModel] | None,
        max_parallel: int,
        hints: PlanningHints | None,
        extra: str | None,
        tokens: TokenAccountant,
        tool_choice: str | None = None,
        shared: RequestModes | None = None,
    ) -> None:
        if tool_mode not in ("auto", "native", "json"):
            raise ConfigError(
                f"ReactPlanner(tool_mode=...) must be 'auto', 'native' or 'json', got {tool_mode!r}"
            )
        takes_tools = accepts_tools(client)
        if tool_mode == "native" and not takes_tools:
            raise ConfigError(
                f"ReactPlanner(tool_mode='native') needs a client whose complete() takes "
                f"tools= and tool_choice=; {type(client).__name__} does not "
                "(use tool_mode='json', or add the two keyword arguments)"
            )
        self._client = client
        self._schemas = schemas
        self._tokens = tokens
        first = 0 if json_schema_mode else FORMAT_MODES.index("json_object")
        self.formats = FormatMemory(("native",) if tool_mode == "native" else FORMAT_MODES[first:])
        # auto: whether the client declares native tool calls is asked on the first run
        # (asking LiteLLMClient imports litellm, which takes seconds)
        self._settled = tool_mode != "auto" or not takes_tools
        if shared is not None:  # settled already: views are made after the first settle()
            self.formats, self._settled = shared.formats, True
        self.names = ToolNames([spec.name for spec in specs])
        self.tools = tool_definitions(specs, final_response_model, self.names)
        self.tool_choice = "required" if final_response_model is not None else None
        self.forced_choice = _forced_choice(tool_choice, specs, self.names)
        json_prompt = build_system_prompt(
            specs,
            max_parallel=max_parallel,
            hints=hints,
            extra=extra,
            final_response_model=final_response_model,
        )
        native_prompt = build_native_system_prompt(
            max_parallel=max_parallel,
            has_tools=bool(specs),
            hints=hints,
            extra=extra,
            final_response_model=final_response_model,
        )
        self.dialects = {
            False: Dialect(native=False, system_prompt=json_prompt, render=step_messages),
            True: Dialect(
                native=True,
                system_prompt=native_prompt,
                render=functools.partial(native_step_messages, names=self.names),
            ),
        }

    async def settle(self) -> None:
        """Decide the ``auto`` ladder once, off the event loop (first run only)."""
        if not self._settled:
            self._use_native(await asyncio.to_thread(declares_tool_calling, self._client))

    def _use_native(self, native: bool) -> None:
        if self._settled:
            return
        self._settled = True
        if native:
            self.formats.use_ladder(("native", *self.formats.ladder))

    def mode(self, model: str) -> FormatMode:
        """The mode of the next request to ``model``."""
        if not self._settled:
            self._use_native(declares_tool_calling(self._client))
        return self.formats.mode_for(model)

    def dialect(self, mode: FormatMode) -> Dialect:
        """The dialect requests of ``mode`` are written in."""
        return self.dialects[mode == "native"]

    def response_format(self, mode: FormatMode) -> dict[str, Any] | None:
        """The ``response_format`` requests of ``mode`` carry (``None`` in native mode)."""
        return self._schemas.response_format(mode)

    def cost(self, mode: FormatMode) -> int:
        """Tokens sent besides the messages: the tools, or the ``response_format``."""
        if mode == "native":
            return self._tokens.format_tokens(mode, self.tools)
        return self._tokens.format_tokens(mode, self._schemas.response_format(mode))


def _forced_choice(
    choice: str | None, specs: Sequence[NodeSpec], names: ToolNames
) -> ToolChoice | None:
    """The wire form of ``ReactPlanner(tool_choice=...)``."""
    if choice is None or choice == "required":
        return choice
    known = [spec.name for spec in specs]
    if not isinstance(choice, str) or choice not in known:
        raise ConfigError(
            f"ReactPlanner(tool_choice=...) must be None, 'required' or the name of a tool "
            f"({', '.join(known) or 'the catalog is empty'}), got {choice!r}"
        )
    return {"type": "function", "function": {"name": names.wire(choice)}}
