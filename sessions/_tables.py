"""SQLAlchemy Core tables of the session store (the shape the migrations produce).

Times are stored as UNIX epoch seconds in double-precision columns so comparisons behave
identically on SQLite and PostgreSQL. Every JSON value is stored as text (see
``_codec.py``) so that a damaged value is detected by the store, never by the driver.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "SCHEMA_HEAD",
    "VERSION_TABLE",
    "events",
    "memory",
    "metadata",
    "oauth_states",
    "pauses",
    "remote_bindings",
    "runs",
    "sessions",
    "tool_journal",
    "user_credentials",
]

VERSION_TABLE = "penguiflow_schema_version"
"""Alembic's version table; named so it never clashes with an application's own alembic."""

SCHEMA_HEAD = "0004"
"""The newest revision under ``migrations/versions`` (a test keeps the two in sync)."""

metadata = MetaData()

_AutoId = BigInteger().with_variant(Integer(), "sqlite")

sessions = Table(
    "penguiflow_sessions",
    metadata,
    Column("tenant_id", String(255), nullable=False),
    Column("session_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=True),
    Column("created_at", Double(), nullable=False),
    Column("updated_at", Double(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "session_id", name="pk_penguiflow_sessions"),
)

runs = Table(
    "penguiflow_runs",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("tenant_id", String(255), nullable=False),
    Column("session_id", String(255), nullable=True),
    Column("user_id", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("state", Text(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("created_at", Double(), nullable=False),
    Column("updated_at", Double(), nullable=False),
    # Added by migration 0004: the process working on a running run, until when (it
    # renews this lease while it works), and why a failed run failed.
    Column("owner_id", String(255), nullable=True),
    Column("lease_until", Double(), nullable=True),
    Column("error", Text(), nullable=True),
    PrimaryKeyConstraint("tenant_id", "run_id", name="pk_penguiflow_runs"),
    Index("ix_penguiflow_runs_tenant_session", "tenant_id", "session_id"),
    Index("ix_penguiflow_runs_status_updated", "status", "updated_at"),
    Index("ix_penguiflow_runs_status_lease", "status", "lease_until"),
)

pauses = Table(
    "penguiflow_pauses",
    metadata,
    Column("pause_id", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("tenant_id", String(255), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("payload", Text(), nullable=True),
    Column("pending_calls", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Double(), nullable=False),
    Column("expires_at", Double(), nullable=True),
    Column("claimed_at", Double(), nullable=True),
    Column("lease_until", Double(), nullable=True),
    Column("claim_id", String(64), nullable=True),
    Column("claim_count", Integer(), nullable=False),
    Column("decision", Text(), nullable=True),
    Column("outcome", Text(), nullable=True),
    Column("resolved_at", Double(), nullable=True),
    PrimaryKeyConstraint("pause_id", name="pk_penguiflow_pauses"),
    UniqueConstraint("token_hash", name="uq_penguiflow_pauses_token_hash"),
    Index("ix_penguiflow_pauses_run", "run_id"),
    Index("ix_penguiflow_pauses_tenant_status", "tenant_id", "status"),
)

events = Table(
    "penguiflow_events",
    metadata,
    Column("id", _AutoId, autoincrement=True, nullable=False),
    Column("trace_id", String(255), nullable=True),
    Column("ts", Double(), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("node_name", String(255), nullable=True),
    Column("node_id", String(255), nullable=True),
    Column("payload", Text(), nullable=False),
    Column("created_at", Double(), nullable=False),
    PrimaryKeyConstraint("id", name="pk_penguiflow_events"),
    Index("ix_penguiflow_events_trace", "trace_id", "id"),
    Index("ix_penguiflow_events_created", "created_at"),
)

remote_bindings = Table(
    "penguiflow_remote_bindings",
    metadata,
    Column("id", _AutoId, autoincrement=True, nullable=False),
    Column("trace_id", String(255), nullable=False),
    Column("context_id", String(255), nullable=True),
    Column("task_id", String(255), nullable=False),
    Column("agent_url", Text(), nullable=False),
    Column("created_at", Double(), nullable=False),
    PrimaryKeyConstraint("id", name="pk_penguiflow_remote_bindings"),
    Index("ix_penguiflow_remote_bindings_trace", "trace_id"),
)

# Added by migration 0002.
memory = Table(
    "penguiflow_memory",
    metadata,
    Column("tenant_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("session_id", String(255), nullable=False),
    Column("state", Text(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("updated_at", Double(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "user_id", "session_id", name="pk_penguiflow_memory"),
)

tool_journal = Table(
    "penguiflow_tool_journal",
    metadata,
    Column("tenant_id", String(255), nullable=False),  # added by migration 0004
    Column("run_id", String(64), nullable=False),
    Column("call_hash", String(128), nullable=False),
    Column("tool", String(255), nullable=False),
    Column("args", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("created_at", Double(), nullable=False),
    Column("updated_at", Double(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "run_id", "call_hash", name="pk_penguiflow_tool_journal"),
)

# Added by migration 0003. ``secret`` and ``data`` hold ciphertext written by the tools
# package (the store never sees a token in clear); states are stored as SHA-256 hashes.
user_credentials = Table(
    "penguiflow_user_credentials",
    metadata,
    Column("tenant_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("provider", String(255), nullable=False),
    Column("secret", Text(), nullable=False),
    Column("expires_at", Double(), nullable=True),
    Column("created_at", Double(), nullable=False),
    Column("updated_at", Double(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "user_id", "provider", name="pk_penguiflow_user_credentials"),
)

oauth_states = Table(
    "penguiflow_oauth_states",
    metadata,
    Column("state_hash", String(64), nullable=False),
    Column("tenant_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("run_id", String(255), nullable=True),
    Column("provider", String(255), nullable=False),
    Column("data", Text(), nullable=False),
    Column("created_at", Double(), nullable=False),
    Column("expires_at", Double(), nullable=False),
    Column("used_at", Double(), nullable=True),
    PrimaryKeyConstraint("state_hash", name="pk_penguiflow_oauth_states"),
    Index("ix_penguiflow_oauth_states_expires", "expires_at"),
)
