"""Guardrail rules: the protocol every rule implements, the registry, built-in rules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from penguiflow.errors import ConfigError

from .models import (
    ANSWER,
    QUERY,
    TOOL_CALL,
    TOOL_RESULT,
    ContextSnapshotV1,
    GuardrailAction,
    GuardrailDecision,
    GuardrailEvent,
    GuardrailSeverity,
    RedactionSpec,
    RuleCost,
    StopSpec,
)

__all__ = [
    "GuardrailRule",
    "InjectionPatternRule",
    "JailbreakIntent",
    "RuleRegistry",
    "SecretRedactionRule",
    "ToolAllowlistRule",
]


@runtime_checkable
class GuardrailRule(Protocol):
    """A check on the events it supports; returns a decision, or ``None`` for no finding.

    Attributes:
        rule_id: a unique id (``"pii-email"``); decisions and retry counts use it.
        version: the rule's version, for reports.
        supports_event_types: the event types it checks (see ``penguiflow.planner.guardrails``).
        cost: ``FAST`` or ``DEEP`` (both run before the content goes on).
        enabled: a disabled rule is skipped.
        severity: the default severity of its findings.
    """

    rule_id: str
    version: str
    supports_event_types: frozenset[str]
    cost: RuleCost
    enabled: bool
    severity: GuardrailSeverity

    async def evaluate(
        self, event: GuardrailEvent, context_snapshot: ContextSnapshotV1
    ) -> GuardrailDecision | None:
        """Check ``event``; return a decision, or ``None`` when there is nothing to say."""
        ...


class RuleRegistry:
    """The rules of a gateway, looked up by event type.

    Args:
        rules: rules to register right away.
    """

    def __init__(self, rules: Iterable[GuardrailRule] = ()) -> None:
        self._rules: dict[str, GuardrailRule] = {}
        for rule in rules:
            self.register(rule)

    def register(self, rule: GuardrailRule) -> None:
        """Add ``rule``.

        Raises:
            ConfigError: it does not implement :class:`GuardrailRule`, or its id is taken.
        """
        if not isinstance(rule, GuardrailRule):
            raise ConfigError(
                f"{type(rule).__name__} is not a guardrail rule: it needs rule_id, version, "
                "supports_event_types, cost, enabled, severity and async evaluate(event, "
                "context_snapshot)"
            )
        if rule.rule_id in self._rules:
            raise ConfigError(f"a guardrail rule with id {rule.rule_id!r} is already registered")
        self._rules[rule.rule_id] = rule

    def unregister(self, rule_id: str) -> None:
        """Remove the rule ``rule_id`` (nothing happens when there is none)."""
        self._rules.pop(rule_id, None)

    def all_rules(self) -> list[GuardrailRule]:
        """Every registered rule, in registration order."""
        return list(self._rules.values())

    def rules_for(self, event_type: str) -> list[GuardrailRule]:
        """The enabled rules that check ``event_type``."""
        return [
            rule
            for rule in self._rules.values()
            if rule.enabled and event_type in rule.supports_event_types
        ]


@dataclass
class ToolAllowlistRule:
    """Blocks calls to denied tools, or to tools outside an allowlist.

    Attributes:
        denied_tools: tools never called.
        allowed_tools: when set, the only tools called.
    """

    rule_id: str = "tool-allowlist"
    version: str = "1"
    supports_event_types: frozenset[str] = frozenset({TOOL_CALL})
    cost: RuleCost = RuleCost.FAST
    enabled: bool = True
    severity: GuardrailSeverity = GuardrailSeverity.HIGH
    denied_tools: frozenset[str] = frozenset()
    allowed_tools: frozenset[str] | None = None

    async def evaluate(
        self, event: GuardrailEvent, context_snapshot: ContextSnapshotV1
    ) -> GuardrailDecision | None:
        """Stop the run when the event's tool is denied or not allowed."""
        tool = event.tool_name
        if tool is None:
            return None
        if tool in self.denied_tools:
            why, code = f"tool {tool!r} is denied", "TOOL_DENIED"
        elif self.allowed_tools is not None and tool not in self.allowed_tools:
            why, code = f"tool {tool!r} is not in the allowlist", "TOOL_NOT_ALLOWED"
        else:
            return None
        return GuardrailDecision(
            action=GuardrailAction.STOP,
            rule_id=self.rule_id,
            reason=why,
            severity=self.severity,
            stop=StopSpec(error_code=code),
        )


def _default_secret_patterns() -> dict[str, re.Pattern[str]]:
    return {
        "OPENAI_KEY": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
        "ANTHROPIC_KEY": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        "AWS_ACCESS_KEY": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        "GITHUB_TOKEN": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
        "BEARER_TOKEN": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{20,}"),
    }


@dataclass
class SecretRedactionRule:
    """Redacts API keys and tokens from tool results and answers.

    Attributes:
        patterns: name -> regular expression; each match is replaced by ``[NAME]``.
    """

    rule_id: str = "secret-redaction"
    version: str = "1"
    supports_event_types: frozenset[str] = frozenset({TOOL_RESULT, ANSWER, "llm_stream_chunk"})
    cost: RuleCost = RuleCost.FAST
    enabled: bool = True
    severity: GuardrailSeverity = GuardrailSeverity.HIGH
    patterns: dict[str, re.Pattern[str]] = field(default_factory=_default_secret_patterns)

    async def evaluate(
        self, event: GuardrailEvent, context_snapshot: ContextSnapshotV1
    ) -> GuardrailDecision | None:
        """Redact every match of every pattern in the event's text."""
        text = event.text_content or ""
        found = sorted(
            (match.start(), match.end(), name)
            for name, pattern in self.patterns.items()
            for match in pattern.finditer(text)
        )
        spans: list[RedactionSpec] = []
        end = -1
        for start, stop, name in found:
            if start < end:  # overlaps a span already taken (two patterns, one secret)
                continue
            spans.append(RedactionSpec("text", f"[{name}]", name, start, stop))
            end = stop
        if not spans:
            return None
        return GuardrailDecision(
            action=GuardrailAction.REDACT,
            rule_id=self.rule_id,
            reason=f"{len(spans)} secret(s) redacted",
            severity=self.severity,
            redactions=tuple(spans),
        )


class JailbreakIntent(StrEnum):
    """What an injection attempt is after."""

    JB_OVERRIDE = "jb_override"
    EXFIL_PROMPT = "exfil_prompt"
    TOOL_ESCALATION = "tool_escalation"


_OVERRIDE = (
    r"\b(ignore|disregard|forget)\b.{0,30}\b(previous|prior|above)\b.{0,20}\b(instructions|rules)\b"
)
_EXFILTRATE = r"\b(reveal|print|show|repeat)\b.{0,30}\bsystem\s+prompt\b"
_ESCALATE = r"\b(bypass|disable)\b.{0,30}\b(restrictions|guardrails|safety)\b"


def _default_injection_patterns() -> tuple[tuple[str, JailbreakIntent], ...]:
    return (
        (_OVERRIDE, JailbreakIntent.JB_OVERRIDE),
        (_EXFILTRATE, JailbreakIntent.EXFIL_PROMPT),
        (_ESCALATE, JailbreakIntent.TOOL_ESCALATION),
    )


@dataclass
class InjectionPatternRule:
    """Stops a run whose query tries to override the instructions (regular expressions).

    Attributes:
        patterns: ``(regular expression, intent)`` pairs, matched case-insensitively.
    """

    rule_id: str = "injection-patterns"
    version: str = "1"
    supports_event_types: frozenset[str] = frozenset({QUERY})
    cost: RuleCost = RuleCost.FAST
    enabled: bool = True
    severity: GuardrailSeverity = GuardrailSeverity.CRITICAL
    patterns: tuple[tuple[str, JailbreakIntent], ...] = field(
        default_factory=_default_injection_patterns
    )

    async def evaluate(
        self, event: GuardrailEvent, context_snapshot: ContextSnapshotV1
    ) -> GuardrailDecision | None:
        """Stop the run at the first pattern found in the event's text."""
        text = event.text_content or ""
        for pattern, intent in self.patterns:
            if re.search(pattern, text, re.IGNORECASE | re.DOTALL):
                return GuardrailDecision(
                    action=GuardrailAction.STOP,
                    rule_id=self.rule_id,
                    reason=f"the query matches an injection pattern ({intent.value})",
                    severity=self.severity,
                    effects=("increment_strike",),
                    classifier_result={"intent": intent.value, "method": "regex"},
                    stop=StopSpec(error_code=f"INJECTION_{intent.value.upper()}"),
                )
        return None
