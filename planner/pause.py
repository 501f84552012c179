"""What a paused run returns: :class:`PlannerPause` and the calls it waits on.

A run pauses when a tool needs a human: a tool declared with ``requires_approval``
(``True``, or a predicate over its validated arguments) pauses **before** it runs, and
a tool that calls ``await ctx.pause(reason, payload)`` pauses to ask for input. The
run's state is committed to the planner's ``state_store`` first; only then is a
``PlannerPause`` with its ``resume_token`` returned. Resume it with
``await planner.resume(token, approve=True)`` (or ``approvals=``, ``edited_args=``,
``user_input=``), in this process or any other one sharing the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["APPROVAL_REQUIRED", "AWAIT_INPUT", "PendingCall", "PendingKind", "PlannerPause"]

APPROVAL_REQUIRED = "approval_required"
"""The reason of a pause that waits for tool calls to be approved."""

AWAIT_INPUT = "await_input"
"""The default reason of a pause a tool asked for with ``ctx.pause()``."""

PendingKind = Literal["approval", "input"]
"""``approval``: the call has not run and waits for a yes/no (or edited arguments).
``input``: the tool ran and asked for input; the human's answer becomes its result."""


class PendingCall(BaseModel):
    """One tool call a pause waits on.

    Attributes:
        call_id: names the call in ``approvals=`` and ``edited_args=`` (``call_<step>_<n>``).
        kind: ``approval`` (not run yet) or ``input`` (the tool asked a question).
        tool: the tool's name.
        args: the validated arguments (JSON) the call would run with, or ran with.
        call_hash: SHA-256 of the tool name, the canonical arguments and the tool's
            argument schema; an approval only applies to exactly this call.
        reason: for ``input`` calls, the reason the tool gave to ``ctx.pause``.
        payload: for ``input`` calls, what the tool asked (JSON).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str
    kind: PendingKind
    tool: str
    args: dict[str, Any]
    call_hash: str
    reason: str | None = None
    payload: dict[str, Any] | None = None


class PlannerPause(BaseModel):
    """A run that stopped to wait for a human; returned by ``run()`` and ``resume()``.

    It is only returned after the run's state and the pause are committed to the
    planner's ``state_store``, so the token survives a restart of this process.

    Attributes:
        reason: ``approval_required``, ``await_input`` or the reason a tool gave to
            ``ctx.pause``.
        payload: what the human needs to decide (JSON): the tool's payload for a single
            ``ctx.pause``, otherwise a ``message`` naming the calls.
        resume_token: pass it to ``planner.resume``. It is the only copy (the store keeps
            only its hash) and it is left out of ``repr``: do not log it.
        pending_calls: the calls waiting for a decision, in plan order.
        expires_at: after this the pause can no longer be resumed (``None``: never).
        run_id: the paused run.
        pause_id: the pause's id (safe to show to operators; it cannot resume anything).
        metadata: the run so far, as in ``PlannerFinish.metadata``.
    """

    model_config = ConfigDict(frozen=True)

    reason: str
    payload: dict[str, Any] | None = None
    resume_token: str = Field(repr=False)
    pending_calls: list[PendingCall] = Field(default_factory=list)
    expires_at: datetime | None = None
    run_id: str
    pause_id: str
    metadata: dict[str, Any] = Field(default_factory=dict, repr=False)
