"""The gateway: runs the rules of an event, combines their decisions into one.

Every enabled rule that supports the event runs, concurrently (or one after the other
with ``sync_parallel=False``), each within ``sync_timeout_ms``. A rule that raises or
times out counts as a ``STOP`` decision unless ``sync_fail_open`` is set: a broken check
never lets content through silently. The strongest decision wins (``STOP`` > ``PAUSE`` >
``RETRY`` > ``REDACT`` > ``ALLOW``); the redactions and effects of all decisions are
merged into it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from penguiflow.errors import ConfigError

from .models import (
    TOOL_RESULT,
    ContextSnapshotV1,
    GuardrailAction,
    GuardrailContext,
    GuardrailDecision,
    GuardrailEvent,
    GuardrailSeverity,
    RedactionSpec,
    StopSpec,
)
from .rules import GuardrailRule, RuleRegistry

__all__ = [
    "DecisionPolicy",
    "DefaultDecisionPolicy",
    "GatewayConfig",
    "GuardrailGateway",
    "apply_redactions",
    "event_text",
]

_RANK = {
    GuardrailAction.ALLOW: 0,
    GuardrailAction.REDACT: 1,
    GuardrailAction.RETRY: 2,
    GuardrailAction.PAUSE: 3,
    GuardrailAction.STOP: 4,
}


@dataclass
class GatewayConfig:
    """How the gateway runs its rules.

    Attributes:
        mode: ``"enforce"`` acts on decisions; ``"shadow"`` only reports them (as
            ``guardrail_decision`` events) and lets everything through.
        sync_timeout_ms: the most one rule may take.
        sync_parallel: run an event's rules concurrently.
        sync_fail_open: a rule that fails or times out is ignored instead of stopping
            the run.
    """

    mode: Literal["shadow", "enforce"] = "enforce"
    sync_timeout_ms: float = 1000.0
    sync_parallel: bool = True
    sync_fail_open: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("shadow", "enforce"):
            raise ConfigError(
                f"GatewayConfig.mode must be 'shadow' or 'enforce', got {self.mode!r}"
            )
        if not self.sync_timeout_ms > 0:
            raise ConfigError(
                f"GatewayConfig.sync_timeout_ms must be > 0, got {self.sync_timeout_ms!r}"
            )


class DecisionPolicy(Protocol):
    """Turns the decisions of one event into the one that is acted on."""

    def resolve(
        self,
        decisions: list[GuardrailDecision],
        event: GuardrailEvent,
        context_snapshot: ContextSnapshotV1,
    ) -> GuardrailDecision:
        """Return the decision to act on (``ALLOW`` when ``decisions`` is empty)."""
        ...


class DefaultDecisionPolicy:
    """The strongest decision wins; redactions and effects of all decisions are merged."""

    def resolve(
        self,
        decisions: list[GuardrailDecision],
        event: GuardrailEvent,
        context_snapshot: ContextSnapshotV1,
    ) -> GuardrailDecision:
        """Return the strongest decision, carrying every redaction and effect."""
        if not decisions:
            return GuardrailDecision(GuardrailAction.ALLOW, "__default__", "no rule objected")
        ordered = sorted(
            decisions, key=lambda d: (_RANK[GuardrailAction(d.action)], d.confidence or 0.0)
        )
        winner = ordered[-1]
        redactions = [r for d in decisions for r in d.redactions or ()]
        effects = tuple(dict.fromkeys(e for d in decisions for e in d.effects))
        if redactions and winner.action is GuardrailAction.REDACT:
            winner = replace(winner, redactions=tuple(redactions))
        if effects:
            winner = replace(winner, effects=effects)
        return winner


@dataclass
class GuardrailGateway:
    """Runs a registry's rules on the planner's events.

    Give it to ``ReactPlanner(guardrail_gateway=...)``; the planner submits the query,
    every tool call and result, and the answer (see ``penguiflow.planner.guardrails``).

    Attributes:
        registry: the rules.
        config: how they run.
        decision_policy: how their decisions combine.
    """

    registry: RuleRegistry
    config: GatewayConfig = field(default_factory=GatewayConfig)
    decision_policy: DecisionPolicy = field(default_factory=DefaultDecisionPolicy)

    async def evaluate(self, ctx: GuardrailContext, event: GuardrailEvent) -> GuardrailDecision:
        """Run the rules of ``event`` and return the decision to act on.

        Args:
            ctx: the run being checked (strike counts are updated from the effects).
            event: the content.
        """
        snapshot = ContextSnapshotV1(
            user_text=event.text_content or "",
            primary_source="tool_output" if event.event_type == TOOL_RESULT else "user",
            available_tools=ctx.available_tools,
            current_tool=event.tool_name,
            previous_violations=sum(ctx.strike_counts.values()),
            tenant_id=ctx.tenant_id,
        )
        rules = self.registry.rules_for(event.event_type)
        if not rules:
            return GuardrailDecision(GuardrailAction.ALLOW, "__default__", "no rule applies")
        if self.config.sync_parallel and len(rules) > 1:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._one(rule, event, snapshot)) for rule in rules]
            found = [task.result() for task in tasks]
        else:
            found = [await self._one(rule, event, snapshot) for rule in rules]
        decision = self.decision_policy.resolve(
            [d for d in found if d is not None], event, snapshot
        )
        if "increment_strike" in decision.effects:
            category = decision.rule_id.split("-")[0]
            ctx.strike_counts[category] = ctx.strike_counts.get(category, 0) + 1
        return decision

    async def _one(
        self, rule: GuardrailRule, event: GuardrailEvent, snapshot: ContextSnapshotV1
    ) -> GuardrailDecision | None:
        timeout = self.config.sync_timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout):
                decision = await rule.evaluate(event, snapshot)
        except Exception as exc:  # a broken rule must not let content through unchecked
            if self.config.sync_fail_open:
                return None
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed ({exc!r})"
            return GuardrailDecision(
                action=GuardrailAction.STOP,
                rule_id=rule.rule_id,
                reason=f"guardrail rule {rule.rule_id!r} {what}; blocked (fail closed)",
                severity=GuardrailSeverity.CRITICAL,
                stop=StopSpec(error_code="GUARDRAIL_ERROR", internal_reason=what),
            )
        if decision is not None and not isinstance(decision, GuardrailDecision):
            raise ConfigError(
                f"guardrail rule {rule.rule_id!r} returned {type(decision).__name__}; "
                "evaluate() must return a GuardrailDecision or None"
            )
        return decision


def _redact_text(text: str, redactions: Sequence[RedactionSpec]) -> str:
    spans = sorted(
        (
            (r.start_offset or 0, len(text) if r.end_offset is None else r.end_offset, r)
            for r in redactions
        ),
        key=lambda item: item[0],
        reverse=True,
    )
    for start, end, spec in spans:
        text = text[:start] + spec.replacement + text[end:]
    return text


def _redact_path(value: Any, spec: RedactionSpec) -> Any:
    """``value`` with the node at ``spec.path`` replaced (a copy; ``value`` is unchanged)."""
    head, _, rest = spec.path.partition(".")
    if isinstance(value, dict) and head in value:
        inner = value[head]
        if rest:
            replaced = _redact_path(inner, replace(spec, path=rest))
        elif isinstance(inner, str) and (
            spec.start_offset is not None or spec.end_offset is not None
        ):
            replaced = _redact_text(inner, [spec])
        else:
            replaced = spec.replacement
        return {**value, head: replaced}
    if isinstance(value, list) and head.isdigit() and int(head) < len(value):
        index = int(head)
        inner = _redact_path(value[index], replace(spec, path=rest)) if rest else spec.replacement
        return [*value[:index], inner, *value[index + 1 :]]
    return value


def _strings(value: Any, fix: Any) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {key: _strings(item, fix) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item, fix) for item in value]
    return value


def apply_redactions(value: Any, text: str, redactions: Sequence[RedactionSpec]) -> Any:
    """Apply ``redactions`` to a JSON ``value`` whose text form given to the rules is ``text``.

    ``"text"`` redactions replace spans of ``text``: a string value is redacted
    directly; in a JSON value every string containing a redacted span has it replaced.
    Other redactions replace the node at their dotted path.

    Args:
        value: the content (a string, or a JSON value).
        text: the text the rules saw.
        redactions: what to replace.

    Returns:
        The redacted content (a new value).
    """
    by_text = [r for r in redactions if r.path in ("", "text")]
    by_path = [r for r in redactions if r.path not in ("", "text")]
    if by_text:
        if isinstance(value, str) and value == text:
            value = _redact_text(value, by_text)
        else:
            pieces = {
                text[
                    r.start_offset or 0 : len(text) if r.end_offset is None else r.end_offset
                ]: r.replacement
                for r in by_text
            }
            pieces = {piece: new for piece, new in pieces.items() if piece}

            def fix(item: str) -> str:
                for piece, new in pieces.items():
                    item = item.replace(piece, new)
                return item

            value = _strings(value, fix)
    for spec in by_path:
        value = _redact_path(value, spec)
    return value


def event_text(value: Any) -> str:
    """The text form of a JSON value given to the rules (strings as they are)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
