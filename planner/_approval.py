"""Approval and input requests: which calls must wait, how they are named and hashed.

A call is identified three ways:

* ``call_id`` (``call_<step>_<n>``) names it to the human (``approvals=``, ``edited_args=``);
* ``call_hash`` = SHA-256 of the tool name, the canonical JSON arguments and the tool's
  argument schema (plus the definition fingerprint of ``ToolNode`` tools): an approval
  applies to exactly this call of exactly this tool definition;
* the journal key = SHA-256 of run id, step, position and ``call_hash``: the tool-call
  journal's idempotency key, also given to the tool as ``ctx.idempotency_key``. It is the
  same in every process that resumes the run, so a call that already completed is never
  executed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..catalog import NodeSpec
from ..errors import ConfigError
from ..sessions import DEFAULT_TENANT
from ..signals import FlowSignal
from .pause import APPROVAL_REQUIRED, AWAIT_INPUT, PendingCall, PendingKind

__all__ = [
    "PauseSignal",
    "PendingStep",
    "call_hash",
    "call_id",
    "check_pause_request",
    "has_approval_rule",
    "journal_key",
    "needs_approval",
    "pause_summary",
    "pending_call",
    "replay_safe",
]

logger = logging.getLogger("penguiflow.planner")


class PauseSignal(FlowSignal):
    """Raised by ``ctx.pause()``: ends the tool call and pauses the run.

    A ``BaseException`` (through :class:`~penguiflow.FlowSignal`), so a tool's
    ``except Exception`` cannot swallow it; the runtime never retries it.
    """

    def __init__(self, reason: str, payload: dict[str, Any] | None) -> None:
        self.reason = reason
        self.payload = payload
        super().__init__(f"the tool paused the run: {reason}")


def check_pause_request(reason: object, payload: object) -> tuple[str, dict[str, Any] | None]:
    """Validate the arguments of ``ctx.pause``; return them.

    Raises:
        ConfigError: ``reason`` is not a non-empty string or ``payload`` is not a JSON object.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"ctx.pause(reason=...) must be a non-empty string, got {reason!r}")
    if payload is None:
        return reason, None
    if not isinstance(payload, dict):
        raise ConfigError(
            f"ctx.pause(payload=...) must be a JSON object (dict) or None, got "
            f"{type(payload).__name__}"
        )
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"ctx.pause(payload=...) must be plain JSON (it is stored with the pause): {exc}"
        ) from None
    return reason, payload


class PendingStep(BaseModel):
    """A step that waits for a human, stored in ``RunState.extensions["hitl"]``.

    Attributes:
        kind: ``tool`` (one call), ``parallel`` (branches pending) or ``join`` (every
            branch done, the join waits).
        action: the LLM's action record.
        calls: the calls waiting for a decision.
        records: for parallel steps, one record per branch (pending ones hold
            ``pending: <call_id>``).
        join: for parallel steps, the plan's join (``ParallelJoin`` as JSON).
        join_record: for ``join`` steps, the join's record so far.
        latency_ms: tool time spent on the step before the pause.
        usage: what the step's LLM calls cost (given to the step once it is recorded).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tool", "parallel", "join"]
    action: dict[str, Any]
    calls: list[PendingCall]
    records: list[dict[str, Any]] | None = None
    join: dict[str, Any] | None = None
    join_record: dict[str, Any] | None = None
    latency_ms: float = 0.0
    usage: dict[str, Any] | None = None


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


_SCHEMA_DIGESTS: weakref.WeakKeyDictionary[NodeSpec, str] = weakref.WeakKeyDictionary()


def _schema_digest(spec: NodeSpec) -> str:
    """SHA-256 of the spec's argument schema, computed once per spec."""
    digest = _SCHEMA_DIGESTS.get(spec)
    if digest is None:
        digest = hashlib.sha256(_canonical(spec.args_schema).encode("utf-8")).hexdigest()
        _SCHEMA_DIGESTS[spec] = digest
    return digest


def call_hash(spec: NodeSpec, args: dict[str, Any]) -> str:
    """SHA-256 of the tool name, the canonical arguments and the argument schema.

    For tools that publish a definition ``fingerprint`` in ``spec.extra`` (MCP and HTTP
    tools of a ``ToolNode``, whose ``extra`` is kept current), the fingerprint is hashed
    too: a server that changes a tool's description or schema after a pause voids the
    approval.
    """
    content: dict[str, Any] = {"tool": spec.name, "args": args, "schema": _schema_digest(spec)}
    fingerprint = spec.extra.get("fingerprint")
    if isinstance(fingerprint, str):
        content["fingerprint"] = fingerprint
    text = _canonical(content)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def call_id(step: int, index: int) -> str:
    """The human-facing id of the call at ``index`` of step ``step``."""
    return f"call_{step}_{index}"


def journal_key(
    run_id: str, step: int, index: int, hashed: str, *, tenant_id: str = DEFAULT_TENANT
) -> str:
    """The idempotency key of a call: stable for the tenant, run, step, position, content.

    Two tenants may use the same run id; their calls' keys still differ. (The default
    tenant's keys are those of earlier versions, which had no tenant in the key.)
    """
    text = f"{run_id}|{step}|{index}|{hashed}"
    if tenant_id != DEFAULT_TENANT:
        text = f"{tenant_id}|{text}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def needs_approval(spec: NodeSpec, args: BaseModel) -> bool:
    """Whether a call must wait for approval; a failing predicate means yes (safe side)."""
    rule = spec.requires_approval
    if rule is False:
        return False
    try:
        return spec.needs_approval(args)
    except Exception:
        logger.exception(
            "requires_approval predicate of tool %r failed; asking for approval", spec.name
        )
        return True


def has_approval_rule(spec: NodeSpec) -> bool:
    """Whether a tool may ever need approval (``requires_approval`` is not ``False``)."""
    return spec.requires_approval is not False


def replay_safe(spec: NodeSpec) -> bool:
    """Whether running the call twice is harmless: pure/read tools, or idempotent ones."""
    return spec.side_effects in ("pure", "read") or spec.extra.get("idempotent") is True


def pending_call(
    spec: NodeSpec,
    args: BaseModel,
    *,
    step: int,
    index: int,
    kind: PendingKind,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> PendingCall:
    """Describe a call that waits for a human."""
    dumped = args.model_dump(mode="json")
    return PendingCall(
        call_id=call_id(step, index),
        kind=kind,
        tool=spec.name,
        args=dumped,
        call_hash=call_hash(spec, dumped),
        reason=reason,
        payload=payload,
    )


def pause_summary(calls: list[PendingCall]) -> tuple[str, dict[str, Any] | None]:
    """The ``(reason, payload)`` of a pause over ``calls``."""
    inputs = [c for c in calls if c.kind == "input"]
    approvals = [c for c in calls if c.kind == "approval"]
    if len(inputs) == 1 and not approvals:
        return inputs[0].reason or AWAIT_INPUT, inputs[0].payload
    parts = []
    if approvals:
        names = ", ".join(f"{c.tool} ({c.call_id})" for c in approvals)
        parts.append(f"{len(approvals)} tool call(s) need approval: {names}")
    if inputs:
        names = ", ".join(f"{c.tool} ({c.call_id})" for c in inputs)
        parts.append(f"{len(inputs)} tool call(s) wait for input: {names}")
    reason = APPROVAL_REQUIRED if approvals else AWAIT_INPUT
    return reason, {"message": "; ".join(parts)}
