"""Tool views: what a run may see and call, and the request machinery built for it.

A planner's tools show up in its system prompt, its ``response_format`` schema and its
native ``tools``; all of them are built once. A run given its own ``tool_policy`` needs
a narrower set, so the same parts are built for that set (a :class:`ToolView`) and kept
in a small cache keyed by the tool names, so tenants with the same tools share one.
The run records its policy in ``RunState.extensions["tool_policy"]``: a resumed or
recovered run gets its own view back, in any process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog import NodeSpec
from ..errors import ConfigError
from ._deciding import Decider
from ._loop import StepLoop
from ._modes import RequestModes
from ._steps import StepRunner
from .run_state import RunState
from .tool_policy import ToolPolicy

__all__ = ["EXTENSION", "ToolView", "Views", "attach_policy"]

EXTENSION = "tool_policy"
"""The ``RunState.extensions`` entry holding a run's own ``ToolPolicy`` (as JSON)."""

_CACHED_VIEWS = 32


@dataclass(frozen=True, slots=True)
class ToolView:
    """Everything that depends on which tools a run may see.

    Attributes:
        specs: the tools.
        tool_names: their names.
        modes: the request dialects and modes.
        decider: gets decisions.
        steps: runs tool calls.
        loop: drives runs.
    """

    specs: tuple[NodeSpec, ...]
    tool_names: tuple[str, ...]
    modes: RequestModes
    decider: Decider
    steps: StepRunner
    loop: StepLoop


Build = Callable[[Sequence[NodeSpec], "RequestModes | None"], ToolView]
"""Builds the view of some tools (sharing the main view's request modes, when given)."""


class Views:
    """The planner's main view and the narrower views of runs with a ``tool_policy``.

    Args:
        specs: the planner's tools (after its own ``tool_policy``).
        build: builds a view.
    """

    def __init__(self, specs: Sequence[NodeSpec], build: Build) -> None:
        self._specs = tuple(specs)
        self._build = build
        self.main = build(self._specs, None)
        self._cache: OrderedDict[frozenset[str], ToolView] = OrderedDict()

    def of(self, state: RunState) -> ToolView:
        """The view of a run: the main one, or the one of the policy the run recorded."""
        recorded: Any = state.extensions.get(EXTENSION)
        if recorded is None:
            return self.main
        policy = ToolPolicy.model_validate(recorded)
        allowed = policy.filter(self._specs)
        if len(allowed) == len(self._specs):
            return self.main
        key = frozenset(spec.name for spec in allowed)
        view = self._cache.get(key)
        if view is None:
            view = self._cache[key] = self._build(allowed, self.main.modes)
            if len(self._cache) > _CACHED_VIEWS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return view


def attach_policy(state: RunState, policy: ToolPolicy | None) -> None:
    """Record a run's own ``tool_policy`` in its state (``None``: the planner's tools)."""
    if policy is None:
        return
    if not isinstance(policy, ToolPolicy):
        raise ConfigError(f"run(tool_policy=...) must be a ToolPolicy, got {type(policy).__name__}")
    state.extensions[EXTENSION] = policy.model_dump(mode="json")
