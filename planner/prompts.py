"""The messages the planner sends: system prompt, query, trajectory and its summary.

The system prompt (with every tool's schemas) is rendered once per planner. Each step
is rendered once, as an assistant message (the action) and a user message (the
observation); older steps are folded into a summary, whole steps at a time, when the
request would exceed ``token_budget``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..catalog import NodeSpec
from ._bounded_json import dumps as _dumps  # never raises, whatever a tool returned
from .actions import INJECT_SOURCES
from .run_state import TrajectoryStep
from .schema import lean_schema

__all__ = [
    "PlanningHints",
    "build_native_system_prompt",
    "build_system_prompt",
    "digest_step",
    "query_message",
    "step_messages",
    "summary_message",
]

_DIGEST_ARGS = 120
_DIGEST_RESULT = 200


class PlanningHints(BaseModel):
    """Guidance rendered into the system prompt; ``disallow_nodes`` is also enforced.

    Attributes:
        constraints: free-text rules for the model.
        ordering_hints: tools in the order they usually should run.
        parallel_groups: groups of tools that can run together in a ``parallel`` step.
        sequential_only: tools that must never run inside a ``parallel`` step (enforced).
        prefer_nodes: tools to try first.
        disallow_nodes: tools the model may not call (enforced: such a call is refused
            with an observation).
    """

    model_config = ConfigDict(extra="forbid")

    constraints: str | None = None
    ordering_hints: list[str] = Field(default_factory=list)
    parallel_groups: list[list[str]] = Field(default_factory=list)
    sequential_only: list[str] = Field(default_factory=list)
    prefer_nodes: list[str] = Field(default_factory=list)
    disallow_nodes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        """Return the hints as prompt text (empty when there are none)."""
        lines: list[str] = []
        if self.constraints:
            lines.append(f"- Constraints: {self.constraints}")
        if self.ordering_hints:
            lines.append(f"- Usual order: {' -> '.join(self.ordering_hints)}")
        for group in self.parallel_groups:
            lines.append(f"- These can run together in one parallel step: {', '.join(group)}")
        if self.sequential_only:
            lines.append(f"- Never inside a parallel step: {', '.join(self.sequential_only)}")
        if self.prefer_nodes:
            lines.append(f"- Prefer: {', '.join(self.prefer_nodes)}")
        if self.disallow_nodes:
            lines.append(f"- Do not call: {', '.join(self.disallow_nodes)}")
        return "\n".join(lines)


def _tool_line(spec: NodeSpec) -> str:
    """One tool of the JSON prompt: name, description, argument schema (and tags)."""
    record: dict[str, Any] = {
        "name": spec.name,
        "desc": spec.desc,
        "args_schema": lean_schema(spec.args_schema),
    }
    if spec.tags:
        record["tags"] = list(spec.tags)
    return _dumps(record)


def build_system_prompt(
    specs: Sequence[NodeSpec],
    *,
    max_parallel: int,
    hints: PlanningHints | None = None,
    extra: str | None = None,
    final_response_model: type[BaseModel] | None = None,
) -> str:
    """Render the system prompt: the action format, the tool catalog and the hints.

    The shapes are written with bare capitals (``NAME``, ``ARGS``, ``ANSWER``) where
    values go: copied as they are, they are not valid JSON, so a template can never
    pass for an answer.

    Args:
        specs: the catalog.
        max_parallel: how many branches of a parallel step run at once.
        hints: planning hints.
        extra: text appended verbatim (``system_prompt_extra``).
        final_response_model: the model the final ``args`` must match, if any.
    """
    if final_response_model is not None:
        final_args = "ARGS match this JSON schema: " + _dumps(
            lean_schema(final_response_model.model_json_schema())
        )
    else:
        final_args = 'ARGS is {"answer": ANSWER} (optional: "sources": [...], "confidence": 0 to 1)'
    parts = [
        "You plan the steps of a tool-using agent. Reply with exactly one JSON object "
        'and nothing else: {"thought": "...", "next_node": NAME, "args": ARGS}',
        "- To call a tool: NAME is the tool's name and ARGS match its args_schema.",
        f'- To finish: NAME is "final_response" and {final_args}.',
        '- To make independent calls at once: NAME is "parallel" and ARGS is {"steps": '
        '[{"node": NAME, "args": ARGS}, ...], "join": null}, or with a tool to run once '
        'every step succeeded: "join": {"node": NAME, "args": ARGS, "inject": {ARG: '
        f"SOURCE}}}} where SOURCE is one of {', '.join(sorted(INJECT_SOURCES))}. "
        f"At most {max_parallel} steps run at once.",
        "- Each result or error comes back as an observation. Never invent results; "
        "answer as soon as you can.",
        "",
        "Tools (JSON, one per line):",
    ]
    parts.extend(_tool_line(spec) for spec in specs)
    if not specs:
        parts.append("(no tools: answer directly with final_response)")
    return "\n".join(parts + _tail(hints, extra))


def _tail(hints: PlanningHints | None, extra: str | None) -> list[str]:
    parts: list[str] = []
    rendered_hints = hints.render() if hints is not None else ""
    if rendered_hints:
        parts += ["", "Planning hints:", rendered_hints]
    if extra:
        parts += ["", extra]
    return parts


def build_native_system_prompt(
    *,
    max_parallel: int,
    has_tools: bool,
    hints: PlanningHints | None = None,
    extra: str | None = None,
    final_response_model: type[BaseModel] | None = None,
) -> str:
    """Render the system prompt of native tool calling (the tools travel as ``tools``).

    Args:
        max_parallel: how many calls of one reply run at once.
        has_tools: whether the catalog has tools.
        hints: planning hints.
        extra: text appended verbatim (``system_prompt_extra``).
        final_response_model: when set, the answer goes through the ``final_response``
            tool instead of plain text.
    """
    finish = (
        "- When you can answer, call final_response with the answer; never answer in plain text."
        if final_response_model is not None
        else "- When you can answer, reply with the answer as plain text, with no tool call."
    )
    parts = [
        "You are a tool-using agent. You solve the user's query step by step.",
        "- Call the tools you are given to look things up or act; make several calls in "
        f"one reply when they are independent (at most {max_parallel} run at once).",
        "- Each result or error comes back as a tool message; read it before the next "
        "step. Never invent results. Finish as soon as you can answer.",
        finish,
    ]
    if not has_tools and final_response_model is None:
        parts[1] = "- There are no tools: answer directly."
    return "\n".join(parts + _tail(hints, extra))


def query_message(query: str, llm_context: Any) -> dict[str, Any]:
    """Return the user message with the query and the read-only context."""
    text = f"Query:\n{query}"
    if llm_context not in (None, {}, []):
        text += f"\n\nContext (read-only JSON):\n{_dumps(llm_context)}"
    return {"role": "user", "content": text}


def _action_text(action: Mapping[str, Any]) -> str:
    return _dumps({k: v for k, v in action.items() if v is not None and k != "call_ids"})


def step_messages(step: TrajectoryStep) -> list[dict[str, Any]]:
    """Render one step as ``[assistant action, user observation]``."""
    node = step.action.get("next_node")
    label = f"step {step.index}, {node}"
    if step.error is not None and step.observation is None:
        body = f"Error ({label}): {step.error}"
    elif step.error is not None:
        body = f"Observation ({label}), with errors: {step.error}\n{_dumps(step.observation)}"
    else:
        body = f"Observation ({label}):\n{_dumps(step.observation)}"
    return [
        {"role": "assistant", "content": _action_text(step.action)},
        {"role": "user", "content": body},
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def digest_step(step: TrajectoryStep) -> str:
    """Return a one-line digest of a step, for the summary of compacted steps."""
    action = step.action
    args = _clip(_dumps(action.get("args", {})), _DIGEST_ARGS)
    head = f"- step {step.index}: {action.get('next_node')}({args})"
    if step.error is not None:
        return f"{head} -> error: {_clip(step.error, _DIGEST_RESULT)}"
    return f"{head} -> {_clip(_dumps(step.observation), _DIGEST_RESULT)}"


def summary_message(summary: str) -> dict[str, Any]:
    """Return the user message holding the digest of compacted steps."""
    return {
        "role": "user",
        "content": "Earlier steps, summarised to fit the token budget:\n" + summary,
    }
