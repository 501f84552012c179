"""Per-user credentials (encrypted OAuth tokens) and pending OAuth authorisations.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the user-credential and OAuth-state tables."""
    op.create_table(
        "penguiflow_user_credentials",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "user_id", "provider", name="pk_penguiflow_user_credentials"
        ),
    )
    op.create_table(
        "penguiflow_oauth_states",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("state_hash", name="pk_penguiflow_oauth_states"),
        sa.Index("ix_penguiflow_oauth_states_expires", "expires_at"),
    )


def downgrade() -> None:
    """Drop the user-credential and OAuth-state tables."""
    op.drop_table("penguiflow_oauth_states")
    op.drop_table("penguiflow_user_credentials")
