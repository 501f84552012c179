"""Turning a human's decision into one verdict per pending call.

The decision is what ``planner.resume()`` was given, as JSON: it is recorded with the
claim, so a resume that takes over after a crash acts on the first decision, not on its
own arguments. Rules, per pending call:

* ``approvals[call_id]``: ``True`` approves, ``False`` rejects, a string rejects with
  that reason; calls it does not name follow ``approve``.
* ``edited_args`` for a call approves it with those arguments, validated again against
  the tool's schema (an invalid edit is refused).
* ``approve=True`` / ``False`` decides every remaining call; ``reason`` is the rejection
  reason shown to the LLM.
* an ``input`` call takes ``user_input``; rejecting it tells the LLM the human declined.

A call with no verdict, an unknown call id, an invalid edit, a tool missing from the
catalog, or an approval of a tool whose definition changed since the pause raise
:class:`ResumeDecisionError` (the caller releases the pause, so it can be resumed again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..catalog import NodeSpec
from ..errors import ConfigError
from ._approval import PendingStep, call_hash
from ._steps import validate_args
from .errors import ResumeDecisionError
from .pause import PendingCall

__all__ = ["Verdict", "decision_json", "rejection_text", "resolve"]

NO_REASON = "no reason given"


@dataclass(slots=True)
class Verdict:
    """What to do with one pending call."""

    call: PendingCall
    action: Literal["approve", "reject", "input"]
    args: BaseModel | None = None
    args_json: dict[str, Any] | None = None
    hashed: str | None = None
    edited: bool = False
    reason: str | None = None
    value: Any = None

    def describe(self) -> str:
        """``approved``, ``approved_edited``, ``rejected`` or ``input``."""
        if self.action == "approve":
            return "approved_edited" if self.edited else "approved"
        return "rejected" if self.action == "reject" else "input"


def rejection_text(reason: str | None, *, kind: str = "approval") -> str:
    """The observation the LLM sees for a rejected call."""
    if kind == "input":
        return f"the reviewer declined to give the input: {reason or NO_REASON}"
    return f"rejected by the reviewer: {reason or NO_REASON}"


def decision_json(
    *,
    approve: bool | None,
    approvals: Mapping[str, bool | str] | None,
    reason: str | None,
    user_input: Any,
    edited_args: Mapping[str, Any] | Sequence[Any] | None,
) -> dict[str, Any]:
    """Check the arguments of ``resume()`` that need no pause, and return them as JSON.

    Raises:
        ConfigError: a value has the wrong type or is not JSON.
    """
    if approve is not None and not isinstance(approve, bool):
        raise ConfigError(f"resume(approve=...) must be True, False or None, got {approve!r}")
    if reason is not None and not isinstance(reason, str):
        raise ConfigError(f"resume(reason=...) must be a string, got {reason!r}")
    if approvals is not None:
        if not isinstance(approvals, Mapping):
            raise ConfigError(
                "resume(approvals=...) must map call ids to True, False or a rejection "
                f"reason, got {type(approvals).__name__}"
            )
        for key, value in approvals.items():
            if not isinstance(key, str) or not isinstance(value, bool | str):
                raise ConfigError(
                    f"resume(approvals=...) maps call ids to True, False or a rejection "
                    f"reason, got {key!r}: {value!r}"
                )
    if edited_args is not None and not isinstance(edited_args, Mapping | list | tuple):
        raise ConfigError(
            "resume(edited_args=...) must be the new arguments (a dict), a dict of call id "
            f"to arguments, or a list with one dict (or None) per pending call; got "
            f"{type(edited_args).__name__}"
        )
    decision = {
        "approve": approve,
        "approvals": None if approvals is None else dict(approvals),
        "reason": reason,
        "user_input": user_input,
        "edited_args": None
        if edited_args is None
        else (dict(edited_args) if isinstance(edited_args, Mapping) else list(edited_args)),
    }
    try:
        json.dumps(decision, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"the resume decision must be plain JSON (it is stored with the pause): {exc}; "
            "pass user_input and edited_args as dicts, lists, strings, numbers or booleans"
        ) from None
    return decision


def _edits(raw: Any, calls: list[PendingCall], pause_id: str) -> dict[str, dict[str, Any]]:
    """Normalise ``edited_args`` to ``{call_id: args}``."""
    if raw is None:
        return {}
    ids = [c.call_id for c in calls]
    approvals = [c for c in calls if c.kind == "approval"]
    if isinstance(raw, list):
        if len(raw) != len(calls):
            raise ResumeDecisionError(
                f"edited_args has {len(raw)} entries but the pause has {len(calls)} pending "
                f"call(s) ({', '.join(ids)}); give one dict (or None) per call, in order",
                pause_id=pause_id,
            )
        edits = {c.call_id: e for c, e in zip(calls, raw, strict=True) if e is not None}
    elif raw and set(raw) <= set(ids):
        edits = dict(raw)
    elif len(approvals) == 1:
        edits = {approvals[0].call_id: raw}
    else:
        raise ResumeDecisionError(
            f"edited_args names no pending call; with several pending calls, key it by call "
            f"id ({', '.join(ids)}) or pass a list with one dict (or None) per call",
            pause_id=pause_id,
        )
    by_id = {c.call_id: c for c in calls}
    for call_id, args in edits.items():
        call = by_id[call_id]
        if call.kind != "approval":
            raise ResumeDecisionError(
                "only calls waiting for approval can be edited; this call already ran and "
                "waits for user_input",
                pause_id=pause_id,
                call_id=call_id,
                tool=call.tool,
            )
        if not isinstance(args, dict):
            raise ResumeDecisionError(
                f"edited arguments must be a JSON object, got {type(args).__name__}",
                pause_id=pause_id,
                call_id=call_id,
                tool=call.tool,
            )
    return edits


def _approved(
    call: PendingCall, spec: NodeSpec | None, edit: dict[str, Any] | None, pause_id: str
) -> Verdict:
    where = {"pause_id": pause_id, "call_id": call.call_id, "tool": call.tool}
    if spec is None:
        raise ResumeDecisionError(
            "the tool is not in this planner's catalog, so the approved call cannot run; "
            "resume with a planner built with the same tools, or reject the call",
            **where,
        )
    if edit is not None:
        checked = validate_args(spec, edit)
        if isinstance(checked, str):
            raise ResumeDecisionError(f"the edited arguments are invalid: {checked}", **where)
        dumped = checked.model_dump(mode="json")
        return Verdict(call, "approve", checked, dumped, call_hash(spec, dumped), edited=True)
    try:
        model = spec.args_model.model_validate(call.args)
    except ValidationError:
        model = None
    if model is None or call_hash(spec, call.args) != call.call_hash:
        raise ResumeDecisionError(
            "the tool's definition (its argument schema) changed since the pause, so the "
            "approval would not apply to the call the reviewer saw; reject the call, or "
            "approve it with edited_args (validated against the new schema)",
            **where,
        )
    return Verdict(call, "approve", model, dict(call.args), call.call_hash)


def resolve(
    decision: Mapping[str, Any],
    pending: PendingStep,
    specs: Mapping[str, NodeSpec],
    pause_id: str,
) -> dict[str, Verdict]:
    """Return the verdict of every pending call (see the module docstring).

    Raises:
        ResumeDecisionError: the decision does not fit the pause.
    """
    calls = pending.calls
    ids = {c.call_id for c in calls}
    approve = decision.get("approve")
    reason = decision.get("reason")
    user_input = decision.get("user_input")
    approvals = decision.get("approvals") or {}
    unknown = sorted(set(approvals) - ids)
    if unknown:
        raise ResumeDecisionError(
            f"approvals names unknown call id(s) {', '.join(unknown)}; the pending calls are "
            f"{', '.join(sorted(ids))}",
            pause_id=pause_id,
        )
    edits = _edits(decision.get("edited_args"), calls, pause_id)
    verdicts: dict[str, Verdict] = {}
    for call in calls:
        where = {"pause_id": pause_id, "call_id": call.call_id, "tool": call.tool}
        choice = approvals.get(call.call_id, approve)
        edit = edits.get(call.call_id)
        if choice is None and edit is not None:
            choice = True
        if isinstance(choice, str) or choice is False:
            if edit is not None:
                raise ResumeDecisionError("the call is both rejected and edited", **where)
            text = choice if isinstance(choice, str) else reason
            verdicts[call.call_id] = Verdict(call, "reject", reason=text)
        elif call.kind == "input":
            if user_input is None:
                raise ResumeDecisionError(
                    "the tool asked for input; pass user_input=... (or approve=False to decline)",
                    **where,
                )
            verdicts[call.call_id] = Verdict(call, "input", value=user_input)
        elif choice is True:
            verdicts[call.call_id] = _approved(call, specs.get(call.tool), edit, pause_id)
        else:
            raise ResumeDecisionError(
                "no decision for this call; pass approve=True or False, or "
                "approvals={call_id: True/False/'reason'}",
                **where,
            )
    return verdicts
