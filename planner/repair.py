"""Step 1 of the repair ladder: fix a bad reply locally, without calling the LLM.

What is repaired (each fix is named in :attr:`ParseOutcome.fixes`):

* ``code_fence``: the object is wrapped in a Markdown code fence;
* ``extracted_object``: prose around the object, or several objects (the first one
  that is a valid action for a known node wins, then the first valid action);
* ``trailing_commas``: ``{"a": 1,}``;
* ``python_literal``: single quotes, ``True``/``False``/``None``;
* ``answer_at_top_level``: ``{"answer": "..."}`` without ``next_node`` (or next to
  ``"next_node": "final_response"``);
* ``args_at_top_level`` / ``args_as_string`` / ``renamed_keys``: arguments next to
  ``next_node`` instead of inside ``args``, ``args`` given as a JSON string, and the
  common ``tool``/``action``/``arguments``/``action_input`` key names.

Step 2 (LLM retries with the validation error) is driven by the planner with
:func:`repair_instruction`; step 3 is a ``no_path`` finish.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from typing import Any

from ._bounded_json import ReplyDecodeError, ReplyLimits, clean_text
from .actions import FINAL_RESPONSE
from .parse import ParseOutcome, action_from_object

__all__ = ["NO_OBJECT", "decode_arguments", "repair_instruction", "repair_locally"]

NO_OBJECT = "no JSON object found in the reply"
"""The error of :func:`repair_locally` when the reply holds nothing to decode."""

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_ANSWER_KEYS = ("answer", "final_answer", "raw_answer", "response")
_NODE_ALIASES = ("tool", "action", "tool_name", "name")
_ARGS_ALIASES = ("arguments", "action_input", "parameters", "input", "tool_input")
_ENVELOPE_KEYS = {"thought", "next_node", "args", "plan", "join"}
_MAX_CANDIDATES = 16
_LIMITS = ReplyLimits()
_ARGS_ECHO = 200
_OBJECT_SIGNIFICANT = re.compile(r"""[{}"'\\]""")
# A string (to the end of the text when it is not closed), or a run of other characters.
_STRING_OR_TEXT = re.compile(
    r""""[^"\\]*(?:\\.[^"\\]*)*"?|'[^'\\]*(?:\\.[^'\\]*)*'?|[^"']+""", re.DOTALL
)


def _balanced_objects(text: str) -> list[str]:
    """Return the top-level ``{...}`` spans of ``text``, skipping braces inside strings.

    Only braces, quotes and backslashes are visited, so a long reply costs little.
    """
    spans: list[str] = []
    depth, start, quote = 0, -1, ""
    escaped = -1  # position of the character a backslash escapes
    for match in _OBJECT_SIGNIFICANT.finditer(text):
        i = match.start()
        if i == escaped:
            continue
        char = match.group()
        if quote:
            if char == "\\":
                escaped = i + 1
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            # An apostrophe in prose outside any object is not a string delimiter.
            if depth > 0 or char == '"':
                quote = char
            continue
        if char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
                if len(spans) >= _MAX_CANDIDATES:
                    break
    return spans


def _outside_strings(text: str, fix: Any) -> str:
    """Apply ``fix`` to the parts of ``text`` that are outside JSON/Python strings."""
    return "".join(
        piece if piece[0] in "\"'" else fix(piece)
        for piece in (match.group() for match in _STRING_OR_TEXT.finditer(text))
    )


def _python_words(segment: str) -> str:
    segment = re.sub(r"\btrue\b", "True", segment)
    segment = re.sub(r"\bfalse\b", "False", segment)
    return re.sub(r"\bnull\b", "None", segment)


def _jsonable(value: Any, depth: int) -> bool:
    """Whether a Python literal is JSON data nested at most ``depth`` levels."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if depth <= 0:
        return False
    if isinstance(value, list | tuple):
        return all(_jsonable(v, depth - 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v, depth - 1) for k, v in value.items())
    return False


def _to_json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): _to_json_value(v) for k, v in value.items()}
    if isinstance(value, str):
        return clean_text(value)
    return value


def _decode(snippet: str, limits: ReplyLimits) -> tuple[Any, list[str]] | None:
    """Decode ``snippet`` as JSON, then with trailing commas removed, then as Python.

    A snippet over the limits is not decoded at all: no fix makes it shorter or flatter.
    """
    if limits.problem(snippet) is not None:
        return None
    try:
        return limits.loads(snippet), []
    except ReplyDecodeError:
        pass
    without_commas = _outside_strings(snippet, lambda s: _TRAILING_COMMA.sub(r"\1", s))
    if without_commas != snippet:
        try:
            return limits.loads(without_commas), ["trailing_commas"]
        except ReplyDecodeError:
            pass
    for candidate in (snippet, _outside_strings(snippet, _python_words)):
        try:
            value = ast.literal_eval(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if _jsonable(value, limits.max_depth):
            return _to_json_value(value), ["python_literal"]
    return None


def _reshape(data: Any, limits: ReplyLimits) -> tuple[Any, list[str]]:
    """Move misplaced fields of a decoded object into the action shape."""
    if not isinstance(data, dict):
        return data, []
    fixes: list[str] = []
    data = dict(data)
    _rename_keys(data, fixes)
    _decode_string_args(data, fixes, limits)
    return _lift_top_level(data, fixes), fixes


def _rename_keys(data: dict[str, Any], fixes: list[str]) -> None:
    """Rename aliases of ``next_node`` and ``args`` (``tool``, ``arguments``...) in place."""
    if "next_node" not in data:
        for alias in _NODE_ALIASES:
            if isinstance(data.get(alias), str):
                data["next_node"] = data.pop(alias)
                fixes.append("renamed_keys")
                break
    if "args" not in data:
        for alias in _ARGS_ALIASES:
            if isinstance(data.get(alias), dict | str):
                data["args"] = data.pop(alias)
                if "renamed_keys" not in fixes:
                    fixes.append("renamed_keys")
                break


def _decode_string_args(data: dict[str, Any], fixes: list[str], limits: ReplyLimits) -> None:
    """Decode ``args`` given as a JSON string into the object it holds, in place."""
    if not isinstance(data.get("args"), str):
        return
    try:
        decoded = limits.loads(data["args"])
    except ReplyDecodeError:
        return
    if isinstance(decoded, dict):
        data["args"] = decoded
        fixes.append("args_as_string")


def _lift_top_level(data: dict[str, Any], fixes: list[str]) -> dict[str, Any]:
    """Move an answer, or a tool's arguments, written next to ``next_node`` into ``args``."""
    answer_key = next((k for k in _ANSWER_KEYS if isinstance(data.get(k), str)), None)
    if answer_key is not None and data.get("next_node") in (None, FINAL_RESPONSE):
        given = data.get("args")
        args: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
        args["answer"] = data.pop(answer_key)
        for extra in ("sources", "confidence"):
            if extra in data:
                args[extra] = data.pop(extra)
        fixes.append("answer_at_top_level")
        return {"thought": data.get("thought"), "next_node": FINAL_RESPONSE, "args": args}
    if isinstance(data.get("next_node"), str) and "args" not in data:
        extras = {k: v for k, v in data.items() if k not in _ENVELOPE_KEYS}
        if extras:
            data = {k: v for k, v in data.items() if k in _ENVELOPE_KEYS}
            data["args"] = extras
            fixes.append("args_at_top_level")
    return data


def repair_locally(
    text: str, *, known_nodes: Collection[str], limits: ReplyLimits = _LIMITS
) -> ParseOutcome:
    """Try to recover an action from a reply that did not parse cleanly.

    Args:
        text: the model's reply.
        known_nodes: tool names and opcodes; an action naming one of them is preferred
            when the reply holds several objects.
        limits: the most characters and nesting levels to read; a reply over the
            size limit is not repaired.

    Returns:
        A :class:`ParseOutcome` with the recovered action and the fixes applied, or
        with the error of the most plausible candidate.
    """
    too_long = limits.size_problem(len(text))
    if too_long is not None:
        return ParseOutcome(error=f"the reply is {too_long}")
    snippets: list[tuple[str, list[str]]] = []
    for block in _FENCE.findall(text):
        snippets.append((block.strip(), ["code_fence"]))
        snippets.extend(
            (obj, ["code_fence", "extracted_object"]) for obj in _balanced_objects(block)
        )
    stripped = text.strip()
    snippets.append((stripped, []))
    snippets.extend((obj, ["extracted_object"]) for obj in _balanced_objects(stripped))

    fallback: ParseOutcome | None = None
    first_error: str | None = None
    seen: set[str] = set()
    for snippet, base_fixes in snippets:
        if not snippet or snippet in seen:
            continue
        seen.add(snippet)
        decoded = _decode(snippet, limits)
        if decoded is None:
            continue
        value, decode_fixes = decoded
        reshaped, shape_fixes = _reshape(value, limits)
        outcome = action_from_object(reshaped)
        if outcome.action is None:
            first_error = first_error or outcome.error
            continue
        outcome.fixes = [*base_fixes, *decode_fixes, *shape_fixes]
        if outcome.action.next_node in known_nodes:
            return outcome
        fallback = fallback or outcome
    if fallback is not None:
        return fallback
    return ParseOutcome(error=first_error or NO_OBJECT)


def decode_arguments(
    raw: str, *, limits: ReplyLimits = _LIMITS
) -> tuple[dict[str, Any] | None, list[str], str | None]:
    """Decode the JSON arguments of a native tool call, repairing them locally if needed.

    The same local fixes as for JSON actions apply (code fences, prose around the
    object, trailing commas, Python literals); a repaired decode reports the fixes with
    ``tool_arguments`` first.

    Args:
        raw: the arguments as the provider sent them.
        limits: the most characters and nesting level to read.

    Returns:
        ``(arguments, fixes, None)``, or ``(None, [], problem)`` when no object can be
        recovered (the problem completes "the arguments are ...").
    """
    text = raw.strip()
    if not text:
        return {}, [], None
    try:
        value = limits.loads(text)
    except ReplyDecodeError as exc:
        problem = str(exc)
    else:
        if isinstance(value, dict):
            return value, [], None
        return None, [], f"a JSON {type(value).__name__}, not an object"
    if limits.size_problem(len(text)) is not None:
        return None, [], problem
    candidates = [block.strip() for block in _FENCE.findall(text)]
    candidates += [text, *_balanced_objects(text)]
    for candidate in candidates:
        decoded = _decode(candidate, limits)
        if decoded is not None and isinstance(decoded[0], dict):
            return decoded[0], ["tool_arguments", *decoded[1]], None
    shown = text if len(text) <= _ARGS_ECHO else text[:_ARGS_ECHO] + "..."
    return None, [], f"{problem}: {clean_text(shown)}"


def repair_instruction(error: str, *, valid_nodes: Collection[str]) -> str:
    """Return the message asking the LLM to fix its previous reply.

    Args:
        error: the precise problem (which field, what was expected).
        valid_nodes: tool names the reply may use.
    """
    names = ", ".join([*sorted(valid_nodes), "final_response", "parallel"])
    return (
        f"Your previous reply could not be used: {error}\n"
        "Reply again with exactly one JSON object and nothing else, shaped as "
        '{"thought": "<short reasoning>", "next_node": "<name>", "args": {...}}. '
        f"Valid next_node values: {names}."
    )
