"""Native tool calling: the catalog as provider ``tools``, steps as tool messages.

In native mode each catalog tool is sent as a function in the request's ``tools``
(its description and argument JSON Schema). A reply's ``tool_calls`` become a step
(several calls: a parallel step); a reply with text and no call is the final answer,
unless a ``final_response_model`` is set: then the ``final_response`` tool carries the
typed answer.

Each recorded step is written back as the assistant message that made the calls
(with the provider's call ids, kept in the step's action as ``call_ids``) followed by
one ``tool`` message per call, so a request always pairs every call with its result,
also after a pause resumed in another process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..catalog import NodeSpec
from ._bounded_json import ReplyDecodeError, ReplyLimits, clean_text, dumps
from .actions import FINAL_RESPONSE, PARALLEL, ActionKind, PlannerAction
from .llm_types import LLMResponse, ToolCall
from .repair import decode_arguments
from .run_state import FinalPayload, TrajectoryStep
from .schema import lean_schema

__all__ = [
    "FINAL_TOOL_DESCRIPTION",
    "Decided",
    "Rejected",
    "ToolNames",
    "native_step_messages",
    "read_tool_reply",
    "tool_definitions",
    "wire_name",
]

FINAL_TOOL_DESCRIPTION = "Give the final answer to the user, once you can answer."
_NOT_WIRE = re.compile(r"[^A-Za-z0-9_-]")
_WIRE_MAX = 64

FinalCheck = Callable[[Mapping[str, Any]], "FinalPayload | str"]


@dataclass(slots=True)
class Decided:
    """A valid decision: the action, its kind, the final payload and the call ids.

    Attributes:
        action: the normalised action.
        kind: ``"tool"``, ``"parallel"`` or ``"final"``.
        payload: the answer of a final action.
        call_ids: the provider's ids of the tool calls (native mode), in order.
        fixes: local repairs applied to the tool-call arguments.
    """

    action: PlannerAction
    kind: ActionKind
    payload: FinalPayload | None = None
    call_ids: list[str] | None = None
    fixes: Sequence[str] = ()


@dataclass(slots=True)
class Rejected:
    """A reply the repair ladder must send back: why, and the messages that say so.

    Attributes:
        error: the problem, phrased for the model.
        echo: the reply as an assistant message, then the tool results (or the user
            instruction) that explain what to fix.
    """

    error: str
    echo: list[dict[str, Any]]


def wire_name(name: str) -> str:
    """A tool name as every provider takes it: ``[A-Za-z0-9_-]``, at most 64 characters.

    MCP tools are named ``server.tool``; OpenAI and Anthropic refuse the dot.
    """
    return _NOT_WIRE.sub("_", name)[:_WIRE_MAX] or "tool"


class ToolNames:
    """Catalog names and the names the model sees in native mode, both ways.

    Args:
        names: the catalog's tool names (unique).
    """

    __slots__ = ("_catalog", "_wire")

    def __init__(self, names: Sequence[str]) -> None:
        self._wire: dict[str, str] = {}
        self._catalog: dict[str, str] = {}
        for name in names:
            wire, suffix = wire_name(name), 2
            while wire in self._catalog:  # two names that differ only in refused characters
                wire = f"{wire_name(name)[: _WIRE_MAX - 4]}_{suffix}"
                suffix += 1
            self._wire[name] = wire
            self._catalog[wire] = name

    def wire(self, name: str) -> str:
        """The name the model sees for catalog tool ``name``."""
        return self._wire.get(name, name)

    def catalog(self, wire: str) -> str:
        """The catalog tool the model means by ``wire`` (an unknown name, made UTF-8 safe)."""
        name = self._catalog.get(wire)
        return clean_text(wire) if name is None else name


def tool_definitions(
    specs: Sequence[NodeSpec], final_response_model: type[BaseModel] | None, names: ToolNames
) -> list[dict[str, Any]]:
    """The request's ``tools``: one function per catalog tool (built once per planner).

    Args:
        specs: the catalog.
        final_response_model: when set, a ``final_response`` function carries the answer.
        names: the names the model sees.
    """
    tools = [
        {
            "type": "function",
            "function": {
                "name": names.wire(spec.name),
                "description": spec.desc,
                "parameters": lean_schema(spec.args_schema),
            },
        }
        for spec in specs
    ]
    if final_response_model is not None:
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": FINAL_RESPONSE,
                    "description": FINAL_TOOL_DESCRIPTION,
                    "parameters": lean_schema(final_response_model.model_json_schema()),
                },
            }
        )
    return tools


# -- writing steps back ------------------------------------------------------------------


def _result_text(record: Mapping[str, Any]) -> str:
    if record.get("ok"):
        return dumps(record.get("result"))
    if record.get("pending"):
        return "Error: the call is still waiting for a human"
    return f"Error: {record.get('error')}"


def _step_calls(step: TrajectoryStep) -> list[tuple[str, Any, str]]:
    """``(tool, args, result text)`` of every call the step made, in order."""
    action = step.action
    args = action.get("args") or {}
    observation = step.observation
    if action.get("next_node") == PARALLEL and isinstance(observation, Mapping):
        branches = observation.get("branches") or []
        calls = [(str(b.get("node")), b.get("args") or {}, _result_text(b)) for b in branches]
        join = observation.get("join")
        if calls and join is not None:
            node, last_args, text = calls[-1]
            calls[-1] = (node, last_args, f"{text}\njoin: {dumps(join)}")
        return calls
    if action.get("next_node") == PARALLEL:
        steps = args.get("steps") if isinstance(args, Mapping) else None
        return [
            (str(s.get("node")), s.get("args") or {}, f"Error: {step.error}")
            for s in steps or []
            if isinstance(s, Mapping)
        ]
    if step.error is not None and observation is None:
        text = f"Error: {step.error}"
    elif step.error is not None:
        text = f"Error: {step.error}\n{dumps(observation)}"
    else:
        text = dumps(observation)
    if action.get("edited_by_reviewer"):
        text = f"(the reviewer edited the arguments before the call ran)\n{text}"
    return [(str(action.get("next_node")), args, text)]


def native_step_messages(
    step: TrajectoryStep, names: ToolNames | None = None
) -> list[dict[str, Any]]:
    """Render one step as the assistant's tool calls followed by one tool message each.

    Steps recorded without provider ids (in JSON mode) get ids made from the step index.

    Args:
        step: the step.
        names: the names the model sees (catalog names when ``None``).
    """
    ids = step.action.get("call_ids") or ()
    calls: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": step.action.get("thought") or None, "tool_calls": calls}
    ]
    for index, (name, args, text) in enumerate(_step_calls(step)):
        call_id = ids[index] if index < len(ids) else f"pf_{step.index}_{index}"
        shown = names.wire(name) if names is not None else name
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": shown, "arguments": dumps(args)},
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
    return messages


# -- reading replies ---------------------------------------------------------------------


def _echo(
    reply: LLMResponse, calls: Sequence[tuple[ToolCall, Any]], texts: Sequence[str]
) -> list[dict[str, Any]]:
    """The reply's calls (arguments as decoded, ``{}`` when undecodable) and their results."""
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": clean_text(reply.text) or None,
            "tool_calls": [
                ToolCall(
                    call.id, clean_text(call.name), dumps(args if isinstance(args, dict) else {})
                ).to_message()
                for call, args in calls
            ],
        }
    ]
    messages.extend(
        {"role": "tool", "tool_call_id": call.id, "content": text}
        for (call, _), text in zip(calls, texts, strict=True)
    )
    return messages


def _text_reply(
    reply: LLMResponse, final_tool: bool, check: FinalCheck, limits: ReplyLimits
) -> Decided | Rejected:
    """A reply without calls: the answer; with a typed answer, only a JSON text that fits."""
    text = clean_text(reply.text).strip()
    echo = [{"role": "assistant", "content": text}] if text else []
    if final_tool:
        data, checked = _final_text(text, check, limits)
        if isinstance(checked, FinalPayload):
            action = PlannerAction(next_node=FINAL_RESPONSE, args=dict(data or {}))
            return Decided(action, "final", checked)
        problem = checked or "the reply has no tool call"
        return Rejected(
            f"{problem}; give the answer by calling the {FINAL_RESPONSE} tool",
            [*echo, {"role": "user", "content": _instruction(problem, final_tool=True)}],
        )
    if not text:
        problem = "the reply has neither text nor a tool call"
        return Rejected(problem, [{"role": "user", "content": _instruction(problem)}])
    action = PlannerAction(next_node=FINAL_RESPONSE, args={"answer": text})
    return Decided(action, "final", FinalPayload(raw_answer=text))


def _final_text(
    text: str, check: FinalCheck, limits: ReplyLimits
) -> tuple[Any, FinalPayload | str | None]:
    """A text answer read as the typed answer: ``(data, payload or problem or None)``."""
    problem = limits.problem(text)
    if problem is not None:
        return None, f"the reply is {problem}"
    try:
        data = limits.loads(text)
    except ReplyDecodeError:
        return None, None
    return data, check(data) if isinstance(data, dict) else None


def _instruction(problem: str, *, final_tool: bool = False) -> str:
    how = (
        f"call the {FINAL_RESPONSE} tool with the answer"
        if final_tool
        else "reply with the answer as plain text"
    )
    return (
        f"Your previous reply could not be used: {problem}\n"
        f"Call one of the tools with valid JSON arguments, or {how}."
    )


def read_tool_reply(
    reply: LLMResponse,
    *,
    final_tool: bool,
    check: FinalCheck,
    names: ToolNames,
    limits: ReplyLimits,
) -> Decided | Rejected:
    """Turn a native reply into a decision, or into what the repair ladder sends back.

    Args:
        reply: the model's reply.
        final_tool: whether the request offered the ``final_response`` tool.
        check: validates final-answer arguments (payload, or the error for the model).
        names: maps the names the model used back to catalog names.
        limits: the most characters of the reply (its text, and the names and arguments
            of its calls) and nesting levels of each call's arguments.

    Returns:
        The decision: the final answer (text, or the ``final_response`` call), one tool
        call, or several calls as a parallel step; or a :class:`Rejected` reply whose
        problem goes back to the model as the results of its calls.
    """
    calls = reply.tool_calls
    size = len(reply.text)
    for call in calls:
        size += len(call.name) + len(call.arguments)
    if size > limits.max_chars:
        problem = f"the reply is {limits.size_problem(size)}"
        return Rejected(
            problem, [{"role": "user", "content": _instruction(problem, final_tool=final_tool)}]
        )
    if not calls:
        return _text_reply(reply, final_tool, check, limits)
    decoded: list[tuple[ToolCall, Any]] = []
    errors: list[str] = []
    fixes: list[str] = []
    final = False
    for call in calls:
        args, call_fixes, error = decode_arguments(call.arguments, limits=limits)
        decoded.append((call, args))
        if call_fixes:
            fixes += call_fixes
        if not call.name:
            errors.append(f"the call {call.id} names no tool")
        elif error is not None:
            errors.append(f"the arguments of {clean_text(call.name)!r} ({call.id}) are {error}")
        final = final or (final_tool and call.name == FINAL_RESPONSE)
    if errors:
        return _reject_calls(reply, decoded, "; ".join(errors), "send them again as a JSON object")
    if final:
        return _final_call(reply, decoded, check, fixes)
    ids = [call.id for call in calls]
    text = reply.text.strip()
    thought = clean_text(text) if text else None
    name = names.catalog(calls[0].name)
    if len(calls) == 1 and name not in (FINAL_RESPONSE, PARALLEL):
        action = PlannerAction(thought=thought, next_node=name, args=decoded[0][1])
        return Decided(action, "tool", None, ids, fixes)
    steps = [{"node": names.catalog(call.name), "args": args} for call, args in decoded]
    action = PlannerAction(thought=thought, next_node=PARALLEL, args={"steps": steps})
    return Decided(action, "parallel", None, ids, fixes)


def _final_call(
    reply: LLMResponse, decoded: list[tuple[ToolCall, Any]], check: FinalCheck, fixes: list[str]
) -> Decided | Rejected:
    """The ``final_response`` call: the typed answer, if it is the reply's only call."""
    if len(decoded) > 1:
        problem = f"{FINAL_RESPONSE} must be the only call of its reply"
        return _reject_calls(reply, decoded, problem, "call the other tools first")
    call, args = decoded[0]
    checked = check(args)
    if isinstance(checked, str):
        return _reject_calls(reply, decoded, checked, "call it again with fixed arguments")
    return Decided(
        PlannerAction(next_node=FINAL_RESPONSE, args=args), "final", checked, [call.id], fixes
    )


def _reject_calls(
    reply: LLMResponse, decoded: list[tuple[ToolCall, Any]], problem: str, fix: str
) -> Rejected:
    texts = [f"Error, not run: {problem}; {fix}." for _ in decoded]
    return Rejected(problem, _echo(reply, decoded, texts))
