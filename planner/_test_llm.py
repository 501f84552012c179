"""``TestLLM``: calls every tool once with schema-valid arguments, then answers.

It needs no script and, built without a catalog, no tools up front: it reads them from
each request (the native ``tools``; in JSON mode the strict action schema of the
``response_format``, else the tool list of the system prompt).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from penguiflow.catalog import NodeSpec
from penguiflow.errors import ConfigError

from ._native import wire_name
from ._offline import finish, new_call_id, record
from ._schema_values import UnsatisfiableSchemaError, sample_value
from .actions import FINAL_RESPONSE, PARALLEL
from .llm_types import (
    LLMRequest,
    LLMResponse,
    StreamCallback,
    ToolCall,
    ToolChoice,
    message_text,
    tool_name,
)

__all__ = ["TestLLM", "called_tools"]

_CALLED = re.compile(r'\\*"next_node\\*"\s*:\s*\\*"([^"\\]+)')
_DIGEST = re.compile(r"step \d+: ([A-Za-z0-9_.\-:]+)\(")
_PROMPT_TOOLS = "Tools (JSON, one per line):"
_OPCODES = (FINAL_RESPONSE, PARALLEL)


def called_tools(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """Return the tool names a conversation shows as already called (see TestLLM)."""
    found: set[str] = set()
    for message in messages:
        if message.get("role") == "system":
            continue
        for call in message.get("tool_calls") or ():
            found.add(str(call.get("function", {}).get("name", "")))
        text = message_text(message)
        if "next_node" in text:
            found.update(_CALLED.findall(text))
        if "step " in text:
            found.update(_DIGEST.findall(text))
    return found


def _derive(name: str, schema: Mapping[str, Any], seed: int) -> dict[str, Any]:
    try:
        value = sample_value(schema, seed=f"{seed}:{name}")
    except UnsatisfiableSchemaError as exc:
        raise ConfigError(
            f"TestLLM cannot derive arguments for tool {name!r}: field {exc.path}: "
            f"{exc.reason}; pass TestLLM(..., args={{{name!r}: {{...}}}})"
        ) from exc
    if not isinstance(value, dict):
        raise ConfigError(f"TestLLM: the args schema of tool {name!r} is not an object schema")
    return value


def _strict_branches(response_format: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """``(next_node, args schema)`` of each branch of a strict action schema."""
    schema = (response_format or {}).get("json_schema", {}).get("schema", {})
    defs = schema.get("$defs")
    branches = []
    for branch in schema.get("anyOf") or ():
        props = branch.get("properties", {}) if isinstance(branch, Mapping) else {}
        name = props.get("next_node", {}).get("const")
        args = props.get("args")
        if isinstance(name, str) and isinstance(args, Mapping):
            branches.append((name, {**args, "$defs": defs} if defs else dict(args)))
    return branches


def _prompt_tools(messages: Iterable[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """``(name, args schema)`` of the tools listed in a JSON-mode system prompt."""
    for message in messages:
        text = message_text(message)
        if message.get("role") != "system" or _PROMPT_TOOLS not in text:
            continue
        tools = []
        for line in text.split(_PROMPT_TOOLS, 1)[1].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("name"), str):
                tools.append((record["name"], record.get("args_schema") or {}))
        return tools
    return []


class TestLLM:
    """Calls every tool once, with schema-valid arguments, then answers.

    Built without a catalog, it reads the tools from each request it receives: the
    native ``tools`` of the request; in JSON mode the strict action schema of its
    ``response_format``, or else the tool list of the system prompt. So a test needs no
    catalog up front: ``ReactPlanner(llm_client=TestLLM(), catalog=...)``. Built with a
    catalog, it calls that catalog's tools. Arguments are derived from each tool's JSON
    schema (bounds, lengths, enums, formats, patterns, nested models, optional and union
    fields) and are the same for the same ``seed``.

    TestLLM keeps no state between calls, so one instance can serve many concurrent
    runs: it finds the tools a run already called by reading that run's messages (tool
    calls, JSON actions echoed as ``"next_node": "<tool>"``, and compacted-step digests
    ``step <n>: <tool>(``). It then calls the first tool not called yet, or answers when
    all were called: with text (or a ``final_response`` call when the request offers
    that tool) in native mode, with a ``final_response`` action in JSON mode.

    Args:
        catalog: the tools, as built by ``build_catalog``; ``None`` reads them from
            each request.
        final_answer: the answer text, or a dict used as the whole arguments of the
            final answer (for structured final answers).
        seed: changes the derived argument values.
        call_tools: the names of the tools to call, in order; all by default.
        args: fixed arguments for some tools, by tool name, instead of derived ones.
        tool_calling: whether to declare native tool calling (``tool_mode="auto"``
            goes by it).

    Raises:
        ConfigError: an unknown tool name, or a tool whose schema has a required part
            no value can be derived for (give it fixed ``args``); without a catalog,
            raised by :meth:`complete` when the request shows the problem.
    """

    __test__ = False

    def __init__(
        self,
        catalog: Sequence[NodeSpec] | None = None,
        *,
        final_answer: str | Mapping[str, Any] = "All tools were called.",
        seed: int = 0,
        call_tools: Sequence[str] | None = None,
        args: Mapping[str, Mapping[str, Any]] | None = None,
        tool_calling: bool = True,
    ) -> None:
        self._seed = seed
        self._fixed = {name: dict(values) for name, values in (args or {}).items()}
        self._wanted = None if call_tools is None else list(call_tools)
        self._final_answer = final_answer
        self._derived: dict[str, dict[str, Any]] = {}
        self.tool_calling = tool_calling
        self._plan: list[tuple[str, dict[str, Any]]] | None = None
        if catalog is not None:
            tools = [(spec.name, spec.args_schema) for spec in catalog]
            self._check_names([name for name, _ in tools])
            self._plan = self._arguments(tools)

    def _check_names(self, offered: list[str]) -> None:
        for name in [*(self._wanted or ()), *self._fixed]:
            if name not in offered:
                raise ConfigError(
                    f"TestLLM: unknown tool {name!r}; the tools are {', '.join(offered) or 'none'}"
                )

    def _arguments(self, tools: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """The tools to call, in catalog order, with their arguments (derived once)."""
        plan = []
        for name, schema in tools:
            if self._wanted is not None and name not in self._wanted:
                continue
            values = self._fixed.get(name)
            if values is None:
                key = f"{name}:{json.dumps(schema, sort_keys=True, default=str)}"
                values = self._derived.get(key)
                if values is None:
                    values = self._derived[key] = _derive(name, schema, self._seed)
            plan.append((name, dict(values)))
        return plan

    @property
    def planned_actions(self) -> list[dict[str, Any]]:
        """The actions a catalog-built client emits in JSON mode, ending with the answer.

        Raises:
            ConfigError: the client was built without a catalog.
        """
        if self._plan is None:
            raise ConfigError("TestLLM() without a catalog plans from each request instead")
        actions = [{"next_node": name, "args": values} for name, values in self._plan]
        return [*actions, {"next_node": FINAL_RESPONSE, "args": self._final_args(None)}]

    def _tools_of(self, request: LLMRequest) -> tuple[list[tuple[str, Any]], Any]:
        """The request's tools ``(name, args schema)`` and its final-answer schema."""
        if request.tools is not None:
            pairs = [
                (tool_name(tool), tool.get("function", {}).get("parameters") or {})
                for tool in request.tools
            ]
        else:
            pairs = _strict_branches(request.response_format) or _prompt_tools(request.messages)
        final = next((schema for name, schema in pairs if name == FINAL_RESPONSE), None)
        return [(name, schema) for name, schema in pairs if name not in _OPCODES], final

    def _final_args(self, schema: Any) -> dict[str, Any]:
        if isinstance(self._final_answer, Mapping):
            return dict(self._final_answer)
        props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        if set(props) <= {"answer", "sources", "confidence"}:
            return {"answer": self._final_answer}
        values = _derive(FINAL_RESPONSE, schema, self._seed)
        if "answer" in props:
            values["answer"] = self._final_answer
        return values

    def _next_call(self, request: LLMRequest) -> tuple[str, dict[str, Any]]:
        tools, final = self._tools_of(request)
        plan = self._plan
        if plan is None:
            self._check_names([name for name, _ in tools])
            plan = self._arguments(tools)
        elif request.tools is not None:  # native names may differ (``server.tool``)
            plan = [(wire_name(name), values) for name, values in plan]
        called = called_tools(request.messages)
        return next(
            ((name, values) for name, values in plan if name not in called),
            (FINAL_RESPONSE, self._final_args(final)),
        )

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> str | LLMResponse:
        """Return the next call (or the answer) of this run, found from the request.

        Raises:
            ConfigError: the request's tools cannot be called as configured.
            LLMBadRequestError: a native request whose tool calls and results do not pair.
        """
        request = record(messages, response_format, stream, tools, tool_choice)
        name, values = self._next_call(request)
        if request.tools is None:
            reply: str | LLMResponse = json.dumps({"next_node": name, "args": values})
        elif name != FINAL_RESPONSE or FINAL_RESPONSE in request.tool_names:
            reply = LLMResponse("", tool_calls=(ToolCall(new_call_id(), name, json.dumps(values)),))
        else:
            answer = values.get("answer")
            reply = LLMResponse(answer if isinstance(answer, str) else json.dumps(values))
        return await finish(reply, stream, on_stream_chunk)

    def __repr__(self) -> str:
        tools = None if self._plan is None else [name for name, _ in self._plan]
        return f"TestLLM(tools={tools!r}, seed={self._seed})"
