"""What guardrail rules see and decide: events, context snapshots and decisions."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "ANSWER",
    "QUERY",
    "TOOL_CALL",
    "TOOL_RESULT",
    "ContextSnapshotV1",
    "GuardrailAction",
    "GuardrailContext",
    "GuardrailDecision",
    "GuardrailEvent",
    "GuardrailSeverity",
    "PauseSpec",
    "RedactionSpec",
    "RetrySpec",
    "RuleCost",
    "StopSpec",
]

QUERY = "llm_before"
"""The user's query, before the first request to the model (``text_content``)."""
TOOL_CALL = "tool_call_start"
"""A tool call about to run (``tool_name``, ``tool_args``; ``text_content``: the args)."""
TOOL_RESULT = "tool_call_result"
"""A tool's result, before the model or any event sees it (``text_content``: its JSON)."""
ANSWER = "final_answer"
"""The answer, before the run finishes with it (``text_content``: the answer text)."""


class GuardrailAction(StrEnum):
    """What a rule decides.

    ``ALLOW`` lets it through; ``REDACT`` replaces parts of it; ``RETRY`` refuses it and
    tells the model how to do better; ``PAUSE`` holds a tool call for a human's approval;
    ``STOP`` blocks it and ends the run.
    """

    ALLOW = "ALLOW"
    REDACT = "REDACT"
    RETRY = "RETRY"
    PAUSE = "PAUSE"
    STOP = "STOP"


class GuardrailSeverity(StrEnum):
    """How serious a finding is (reported, not acted on)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class RuleCost(StrEnum):
    """How expensive a rule is; every rule runs before the guarded content goes on."""

    FAST = "fast"
    DEEP = "deep"


@dataclass(slots=True, frozen=True)
class RedactionSpec:
    """One part of the content to replace.

    Attributes:
        path: ``"text"`` for the event's ``text_content`` (with the offsets below), or a
            dotted path into the JSON value (``"token"``, ``"user.email"``) whose value is
            replaced whole (or, when it is a string and offsets are given, in part).
        replacement: what replaces it.
        entity_type: what was found (``"EMAIL"``, ``"API_KEY"``...), for reports.
        start_offset: first character replaced (``None``: from the start).
        end_offset: the character after the last one replaced (``None``: to the end).
    """

    path: str
    replacement: str = "[REDACTED]"
    entity_type: str | None = None
    start_offset: int | None = None
    end_offset: int | None = None


@dataclass(slots=True, frozen=True)
class RetrySpec:
    """How a refused tool call, result or answer goes back to the model.

    Attributes:
        max_attempts: how many times this rule may refuse within one run; once used up,
            its next ``RETRY`` stops the run.
        corrective_message: what the model is told (the decision's ``reason`` if empty).
    """

    max_attempts: int = 2
    corrective_message: str = ""


@dataclass(slots=True, frozen=True)
class PauseSpec:
    """How a tool call waits for a human.

    Attributes:
        scope: what waits (only ``tool_call`` is supported by the planner).
        approver_roles: who may approve (reported with the pause).
        prompt: what the human is asked.
        timeout_s: reported with the pause; the pause itself expires after the
            planner's ``pause_ttl_s``.
    """

    scope: Literal["run", "step", "tool_call"] = "tool_call"
    approver_roles: tuple[str, ...] = ("admin",)
    prompt: str = ""
    timeout_s: float | None = 300.0


@dataclass(slots=True, frozen=True)
class StopSpec:
    """How a blocked run ends.

    Attributes:
        error_code: a code for the block, reported in ``metadata["guardrail"]``.
        user_message: the answer the user gets instead (``payload.raw_answer``).
        internal_reason: why, for operators (reported, never shown to the user).
    """

    error_code: str = "GUARDRAIL_STOP"
    user_message: str = "I'm unable to complete that request."
    internal_reason: str = ""


@dataclass(slots=True)
class GuardrailDecision:
    """A rule's decision on one event.

    Attributes:
        action: what to do.
        rule_id: the rule that decided.
        reason: why, in a sentence.
        decision_id: a unique id.
        correlation_id: an id linking decisions of one evaluation, when set.
        severity: how serious the finding is.
        confidence: the rule's confidence (0 to 1), when it has one.
        was_sync: always ``True`` here (every rule runs before the content goes on).
        effects: free-form labels (``"increment_strike"``...), merged across decisions.
        redactions: what to replace (``REDACT``).
        retry: how to retry (``RETRY``).
        pause: how to pause (``PAUSE``).
        stop: how to stop (``STOP``).
        classifier_result: a rule's own details, reported as they are.
    """

    action: GuardrailAction
    rule_id: str
    reason: str
    decision_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    correlation_id: str | None = None
    severity: GuardrailSeverity = GuardrailSeverity.MEDIUM
    confidence: float | None = None
    was_sync: bool = True
    effects: tuple[str, ...] = ()
    redactions: tuple[RedactionSpec, ...] | None = None
    retry: RetrySpec | None = None
    pause: PauseSpec | None = None
    stop: StopSpec | None = None
    classifier_result: dict[str, Any] | None = None

    def with_effects(self, *new_effects: str) -> GuardrailDecision:
        """A copy of this decision with ``new_effects`` added."""
        return replace(self, effects=self.effects + tuple(new_effects))

    def report(self) -> dict[str, Any]:
        """The decision as JSON, for events and ``metadata["guardrail"]``."""
        report: dict[str, Any] = {
            "rule_id": self.rule_id,
            "action": self.action.value,
            "reason": self.reason,
            "severity": self.severity.value,
            "decision_id": self.decision_id,
        }
        if self.stop is not None:
            report["error_code"] = self.stop.error_code
        if self.redactions:
            report["redactions"] = len(self.redactions)
        if self.effects:
            report["effects"] = list(self.effects)
        return report


@dataclass(slots=True)
class GuardrailEvent:
    """Content the planner submits to the rules.

    Attributes:
        event_type: ``llm_before``, ``tool_call_start``, ``tool_call_result`` or
            ``final_answer``.
        run_id: the run.
        text_content: the content as text (query, JSON args or result, answer).
        tool_name: the tool, for tool events.
        tool_args: the call's arguments, for tool events.
        payload: other details (``tool_result`` for results, ``tenant_id``...).
        timestamp: when the event was made.
    """

    event_type: str
    run_id: str
    text_content: str | None = None
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)


@dataclass(slots=True)
class GuardrailContext:
    """What the gateway knows about the run being checked.

    Attributes:
        run_id: the run.
        tenant_id: its tenant.
        tool_context: the run's ``tool_context`` when it is a mapping (never stored).
        strike_counts: how many ``increment_strike`` effects each rule category caused.
        available_tools: the tools the run may call.
    """

    run_id: str
    tenant_id: str | None = None
    tool_context: dict[str, Any] = field(default_factory=dict)
    strike_counts: dict[str, int] = field(default_factory=dict)
    available_tools: tuple[str, ...] = ()


@dataclass(slots=True)
class ContextSnapshotV1:
    """The summary of the run a rule gets beside the event.

    Attributes:
        schema_version: ``"1"``.
        user_text: the event's text.
        primary_source: where the text comes from: ``user`` or ``tool_output``.
        available_tools: the tools the run may call.
        current_tool: the tool of a tool event.
        previous_violations: strikes recorded so far in the run.
        tenant_id: the run's tenant.
    """

    schema_version: Literal["1"] = "1"
    user_text: str = ""
    primary_source: str = "user"
    available_tools: tuple[str, ...] = ()
    current_tool: str | None = None
    previous_violations: int = 0
    tenant_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as JSON (for external classifiers)."""
        return {
            "schema_version": self.schema_version,
            "user_text": self.user_text,
            "primary_source": self.primary_source,
            "available_tools": list(self.available_tools),
            "current_tool": self.current_tool,
            "previous_violations": self.previous_violations,
            "tenant_id": self.tenant_id,
        }
