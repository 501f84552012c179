"""Offline LLM clients for tests, demos and examples: no network, no API key.

* :class:`ScriptedLLM` replies from a list, in order, and records every request.
* :class:`FunctionLLM` lets a function of yours compute each reply.
* :class:`TestLLM` needs no script: it reads the tool catalog, calls every tool once
  with arguments derived from its JSON schema, then gives a final answer.

All three implement :class:`~penguiflow.planner.llm_types.LLMClient`, stream their
reply in a few chunks when asked to, and are ignored by pytest's collection.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

from penguiflow.catalog import NodeSpec
from penguiflow.errors import ConfigError

from ._schema_values import UnsatisfiableSchemaError, sample_value
from .errors import ScriptExhaustedError
from .llm_types import (
    LLMRequest,
    LLMResponse,
    StreamCallback,
    deliver_chunk,
    message_text,
    split_for_stream,
)

__all__ = ["FunctionLLM", "Reply", "ScriptedLLM", "TestLLM"]

Reply: TypeAlias = str | Mapping[str, Any] | LLMResponse
"""What an offline client can answer: text, a dict (sent as JSON) or an LLMResponse."""

ScriptItem: TypeAlias = Reply | BaseException | type[BaseException]
ReplyFunction: TypeAlias = Callable[
    [list[dict[str, Any]], dict[str, Any] | None], Reply | Awaitable[Reply]
]

_FINAL = "final_response"
_CALLED = re.compile(r'\\*"next_node\\*"\s*:\s*\\*"([^"\\]+)')
_DIGEST = re.compile(r"step \d+: ([A-Za-z0-9_.\-:]+)\(")


def _as_text(reply: Reply) -> str | LLMResponse:
    if isinstance(reply, str | LLMResponse):
        return reply
    if isinstance(reply, Mapping):
        return json.dumps(dict(reply))
    raise TypeError(
        f"an offline LLM reply must be str, dict or LLMResponse, got {type(reply).__name__}"
    )


async def _finish(
    reply: str | LLMResponse, stream: bool, on_stream_chunk: StreamCallback | None
) -> str | LLMResponse:
    if stream and on_stream_chunk is not None:
        text = reply.text if isinstance(reply, LLMResponse) else reply
        for piece in split_for_stream(text):
            await deliver_chunk(on_stream_chunk, piece, False)
        await deliver_chunk(on_stream_chunk, "", True)
    return reply


def _record(
    messages: list[dict[str, Any]], response_format: dict[str, Any] | None, stream: bool
) -> LLMRequest:
    return LLMRequest([dict(m) for m in messages], response_format, stream)


class ScriptedLLM:
    """Replies from a script, in order, and records every request.

    Each script item is returned (``str`` as-is, a ``dict`` as JSON text, an
    :class:`~penguiflow.planner.llm_types.LLMResponse` unchanged) or, for an exception,
    raised. Concurrent runs sharing one ScriptedLLM take replies in call order; use one
    client per run when the order matters.

    Args:
        replies: the script.

    Attributes:
        requests: every request received, in order.

    Raises:
        ScriptExhaustedError: (from :meth:`complete`) a request arrived after the last
            reply was used.
    """

    __test__ = False

    def __init__(self, replies: Sequence[ScriptItem]) -> None:
        if isinstance(replies, str | bytes | Mapping):
            raise ConfigError(
                f"ScriptedLLM(replies=...) takes a list of replies, got a single "
                f"{type(replies).__name__}; wrap it in a list"
            )
        self._replies: list[ScriptItem] = list(replies)
        self._next = 0
        self.requests: list[LLMRequest] = []

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._replies) - self._next

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str | LLMResponse:
        """Record the request and return (or raise) the next scripted reply.

        Raises:
            ScriptExhaustedError: the script has no reply left.
        """
        request = _record(messages, response_format, stream)
        self.requests.append(request)
        if self._next >= len(self._replies):
            raise ScriptExhaustedError(
                len(self._replies), len(self.requests), request.last_message[:200]
            )
        item = self._replies[self._next]
        self._next += 1
        if isinstance(item, BaseException) or (
            isinstance(item, type) and issubclass(item, BaseException)
        ):
            raise item
        return await _finish(_as_text(item), stream, on_stream_chunk)

    def __repr__(self) -> str:
        return f"ScriptedLLM(replies={len(self._replies)}, remaining={self.remaining})"


class FunctionLLM:
    """Computes each reply with ``fn(messages, response_format)``.

    ``fn`` may be sync or async (decided once, here) and returns a ``str``, a ``dict``
    (sent as JSON) or an :class:`~penguiflow.planner.llm_types.LLMResponse`; what it
    raises propagates to the caller.

    Args:
        fn: the reply function.

    Attributes:
        requests: every request received, in order.

    Raises:
        ConfigError: ``fn`` is not callable.
    """

    __test__ = False

    def __init__(self, fn: ReplyFunction) -> None:
        if not callable(fn):
            raise ConfigError(
                f"FunctionLLM(fn) needs a function (messages, response_format) -> reply, "
                f"got {type(fn).__name__}"
            )
        self._fn = fn
        call = getattr(fn, "__call__", None)  # noqa: B004 - objects with async __call__
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)
        self.requests: list[LLMRequest] = []

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str | LLMResponse:
        """Record the request and return what ``fn`` computes for it."""
        self.requests.append(_record(messages, response_format, stream))
        result: Any = self._fn(messages, response_format)
        if self._is_async:
            result = await result
        return await _finish(_as_text(result), stream, on_stream_chunk)

    def __repr__(self) -> str:
        return f"FunctionLLM({getattr(self._fn, '__qualname__', self._fn)!r})"


class TestLLM:
    """Calls every tool of a catalog once, with schema-valid arguments, then answers.

    The arguments of each tool are derived once, here, from the tool's args JSON
    schema (bounds, lengths, enums, formats, patterns, nested models, optional and
    union fields), and are the same for the same ``seed``.

    TestLLM keeps no state between calls, so one instance can serve many concurrent
    runs: it finds the tools a run already called by reading that run's messages. A
    tool counts as called when a non-system message contains ``"next_node":
    "<tool>"`` (the ReactPlanner echoes each action as an assistant message) or a
    compacted-step digest ``step <n>: <tool>(``. It then asks for the first tool of
    the catalog not called yet, or for ``final_response`` when all were called.

    Args:
        catalog: the tools, as built by ``build_catalog``.
        final_answer: the answer text, or a dict used as the whole ``args`` of the
            ``final_response`` action (for structured final answers).
        seed: changes the derived argument values.
        call_tools: the names of the tools to call, in catalog order; all by default.
        args: fixed arguments for some tools, by tool name, instead of derived ones.

    Raises:
        ConfigError: an unknown tool name, or a tool whose schema has a required part
            no value can be derived for (give it fixed ``args``).
    """

    __test__ = False

    def __init__(
        self,
        catalog: Sequence[NodeSpec],
        *,
        final_answer: str | Mapping[str, Any] = "All tools were called.",
        seed: int = 0,
        call_tools: Sequence[str] | None = None,
        args: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        names = [spec.name for spec in catalog]
        fixed = dict(args or {})
        wanted = list(names if call_tools is None else call_tools)
        for name in [*wanted, *fixed]:
            if name not in names:
                raise ConfigError(
                    f"TestLLM: unknown tool {name!r}; the catalog has {', '.join(names) or 'none'}"
                )
        self._seed = seed
        self._plan: list[tuple[str, str]] = []
        for spec in catalog:
            if spec.name not in wanted:
                continue
            values = fixed.get(spec.name)
            if values is None:
                values = self._derive(spec, seed)
            action = {"next_node": spec.name, "args": dict(values)}
            self._plan.append((spec.name, json.dumps(action)))
        final_args = (
            dict(final_answer) if isinstance(final_answer, Mapping) else {"answer": final_answer}
        )
        self._final = json.dumps({"next_node": _FINAL, "args": final_args})

    @staticmethod
    def _derive(spec: NodeSpec, seed: int) -> dict[str, Any]:
        try:
            value = sample_value(spec.args_schema, seed=f"{seed}:{spec.name}")
        except UnsatisfiableSchemaError as exc:
            raise ConfigError(
                f"TestLLM cannot derive arguments for tool {spec.name!r}: field {exc.path}: "
                f"{exc.reason}; pass TestLLM(..., args={{{spec.name!r}: {{...}}}})"
            ) from exc
        if not isinstance(value, dict):
            raise ConfigError(
                f"TestLLM: the args schema of tool {spec.name!r} is not an object schema"
            )
        return value

    @property
    def planned_actions(self) -> list[dict[str, Any]]:
        """The actions this client emits, in order, ending with ``final_response``."""
        return [json.loads(text) for _, text in self._plan] + [json.loads(self._final)]

    async def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str | LLMResponse:
        """Return the next action of this run, found from ``messages``."""
        called = called_tools(messages)
        reply = next((text for name, text in self._plan if name not in called), self._final)
        return await _finish(reply, stream, on_stream_chunk)

    def __repr__(self) -> str:
        tools = [name for name, _ in self._plan]
        return f"TestLLM(tools={tools!r}, seed={self._seed})"


def called_tools(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """Return the tool names a conversation shows as already called (see TestLLM)."""
    found: set[str] = set()
    for message in messages:
        if message.get("role") == "system":
            continue
        text = message_text(message)
        if "next_node" in text:
            found.update(_CALLED.findall(text))
        if "step " in text:
            found.update(_DIGEST.findall(text))
    return found
