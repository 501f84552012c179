"""Core tables: sessions, runs, pauses, events, remote bindings.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the core tables."""
    op.create_table(
        "penguiflow_sessions",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", name="pk_penguiflow_sessions"),
    )
    op.create_table(
        "penguiflow_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_penguiflow_runs"),
    )
    op.create_index(
        "ix_penguiflow_runs_tenant_session", "penguiflow_runs", ["tenant_id", "session_id"]
    )
    op.create_index(
        "ix_penguiflow_runs_status_updated", "penguiflow_runs", ["status", "updated_at"]
    )
    op.create_table(
        "penguiflow_pauses",
        sa.Column("pause_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("pending_calls", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=True),
        sa.Column("claim_id", sa.String(64), nullable=True),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("pause_id", name="pk_penguiflow_pauses"),
        sa.UniqueConstraint("token_hash", name="uq_penguiflow_pauses_token_hash"),
    )
    op.create_index("ix_penguiflow_pauses_run", "penguiflow_pauses", ["run_id"])
    op.create_index(
        "ix_penguiflow_pauses_tenant_status", "penguiflow_pauses", ["tenant_id", "status"]
    )
    op.create_table(
        "penguiflow_events",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(255), nullable=True),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("node_name", sa.String(255), nullable=True),
        sa.Column("node_id", sa.String(255), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_penguiflow_events"),
    )
    op.create_index("ix_penguiflow_events_trace", "penguiflow_events", ["trace_id", "id"])
    op.create_index("ix_penguiflow_events_created", "penguiflow_events", ["created_at"])
    op.create_table(
        "penguiflow_remote_bindings",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(255), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=True),
        sa.Column("task_id", sa.String(255), nullable=False),
        sa.Column("agent_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_penguiflow_remote_bindings"),
    )
    op.create_index(
        "ix_penguiflow_remote_bindings_trace", "penguiflow_remote_bindings", ["trace_id"]
    )


def downgrade() -> None:
    """Drop the core tables."""
    for table in (
        "penguiflow_remote_bindings",
        "penguiflow_events",
        "penguiflow_pauses",
        "penguiflow_runs",
        "penguiflow_sessions",
    ):
        op.drop_table(table)
