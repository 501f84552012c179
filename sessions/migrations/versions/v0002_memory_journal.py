"""Conversation memory and the tool-call journal.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the memory and tool-journal tables."""
    op.create_table(
        "penguiflow_memory",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "session_id", name="pk_penguiflow_memory"),
    )
    op.create_table(
        "penguiflow_tool_journal",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("call_hash", sa.String(128), nullable=False),
        sa.Column("tool", sa.String(255), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "call_hash", name="pk_penguiflow_tool_journal"),
    )


def downgrade() -> None:
    """Drop the memory and tool-journal tables."""
    op.drop_table("penguiflow_tool_journal")
    op.drop_table("penguiflow_memory")
