"""Guardrails: pluggable checks on what a planner run reads, calls and answers.

Give ``ReactPlanner(guardrail_gateway=GuardrailGateway(registry=RuleRegistry([...])))``
rules; the planner submits four kinds of event to them:

* ``llm_before``: the user's query, before the first request to the model;
* ``tool_call_start``: each tool call, before it runs (parallel branches included);
* ``tool_call_result``: each tool result, before the model or any event sees it;
* ``final_answer``: the answer, before the run finishes with it.

A rule returns a :class:`GuardrailDecision` (or ``None``): ``ALLOW``; ``REDACT`` (the
content goes on with parts replaced); ``RETRY`` (the call, result or answer is refused
and the model is told why, at most ``RetrySpec.max_attempts`` times per rule and run);
``PAUSE`` (a tool call waits for a human's approval in the planner's state store, like
``requires_approval``); ``STOP`` (the run ends with ``no_path``, the answer replaced by
``StopSpec.user_message`` and the decision in ``metadata["guardrail"]``). Every decision
other than ``ALLOW`` is reported as a ``guardrail_decision`` event. See
``docs/planner.md``.
"""

from __future__ import annotations

from .gateway import (
    DecisionPolicy,
    DefaultDecisionPolicy,
    GatewayConfig,
    GuardrailGateway,
    apply_redactions,
)
from .models import (
    ANSWER,
    QUERY,
    TOOL_CALL,
    TOOL_RESULT,
    ContextSnapshotV1,
    GuardrailAction,
    GuardrailContext,
    GuardrailDecision,
    GuardrailEvent,
    GuardrailSeverity,
    PauseSpec,
    RedactionSpec,
    RetrySpec,
    RuleCost,
    StopSpec,
)
from .rules import (
    GuardrailRule,
    InjectionPatternRule,
    JailbreakIntent,
    RuleRegistry,
    SecretRedactionRule,
    ToolAllowlistRule,
)

__all__ = [
    "ANSWER",
    "QUERY",
    "TOOL_CALL",
    "TOOL_RESULT",
    "ContextSnapshotV1",
    "DecisionPolicy",
    "DefaultDecisionPolicy",
    "GatewayConfig",
    "GuardrailAction",
    "GuardrailContext",
    "GuardrailDecision",
    "GuardrailEvent",
    "GuardrailGateway",
    "GuardrailRule",
    "GuardrailSeverity",
    "InjectionPatternRule",
    "JailbreakIntent",
    "PauseSpec",
    "RedactionSpec",
    "RetrySpec",
    "RuleCost",
    "RuleRegistry",
    "SecretRedactionRule",
    "StopSpec",
    "ToolAllowlistRule",
    "apply_redactions",
]
