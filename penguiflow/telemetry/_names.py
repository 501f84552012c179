"""Names of the spans, attributes and metrics penguiflow reports.

The ``gen_ai.*`` names follow the OpenTelemetry semantic conventions for generative AI
(agent, inference and tool spans; client metrics); ``error.type`` and ``messaging.*``
the general ones. What the conventions do not cover is under ``penguiflow.*``.
"""

from __future__ import annotations

from typing import Final

# -- GenAI semantic conventions ----------------------------------------------------------
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
AGENT_NAME: Final = "gen_ai.agent.name"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_RESULT: Final = "gen_ai.tool.call.result"
ERROR_TYPE: Final = "error.type"

INVOKE_AGENT: Final = "invoke_agent"
CHAT: Final = "chat"
EXECUTE_TOOL: Final = "execute_tool"

OTHER: Final = "_OTHER"
"""The conventions' value for "none of the known ones" (a provider, an error type)."""

# -- messaging (worker jobs) -------------------------------------------------------------
MESSAGING_OPERATION: Final = "messaging.operation.name"
MESSAGE_ID: Final = "messaging.message.id"

# -- penguiflow --------------------------------------------------------------------------
RUN_ID: Final = "penguiflow.run.id"
RUN_OUTCOME: Final = "penguiflow.run.outcome"
RUN_HOW: Final = "penguiflow.run.entry"
TENANT: Final = "penguiflow.tenant.id"
COST: Final = "penguiflow.usage.cost_usd"
TOOL_SIDE_EFFECTS: Final = "penguiflow.tool.side_effects"
TOOL_RETRIES: Final = "penguiflow.tool.retries"
TOOL_OUTCOME: Final = "penguiflow.tool.outcome"
FLOW_TRACE: Final = "penguiflow.trace_id"
NODE_NAME: Final = "penguiflow.node.name"
NODE_ATTEMPTS: Final = "penguiflow.node.attempts"
PAUSE_ID: Final = "penguiflow.pause.id"
PAUSE_REASON: Final = "penguiflow.pause.reason"
PAUSE_CALLS: Final = "penguiflow.pause.calls"
RESUME_RECLAIMED: Final = "penguiflow.resume.reclaimed"
RESUME_DECISIONS: Final = "penguiflow.resume.decisions"
JOB_ID: Final = "penguiflow.job.id"
JOB_ATTEMPT: Final = "penguiflow.job.attempt"
JOB_EVENT: Final = "penguiflow.job.event"
WORKER_ID: Final = "penguiflow.worker.id"

# -- metrics -----------------------------------------------------------------------------
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
RUN_DURATION: Final = "penguiflow.run.duration"
TOOL_DURATION: Final = "penguiflow.tool.duration"
TOOL_ERRORS: Final = "penguiflow.tool.errors"
QUEUE_DEPTH: Final = "penguiflow.node.queue.depth"
IN_FLIGHT: Final = "penguiflow.node.in_flight"
PENDING_PAUSES: Final = "penguiflow.pauses.pending"
WORKER_JOBS: Final = "penguiflow.worker.jobs"

TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
"""Bucket boundaries the conventions give for ``gen_ai.client.token.usage``."""

DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
"""Bucket boundaries the conventions give for ``gen_ai.client.operation.duration``."""
