"""Run ids scoped by tenant; owner leases and failure reasons on runs.

A run is keyed by ``(tenant_id, run_id)``, so two tenants can use the same run id; the
tool-call journal gains ``tenant_id`` (filled in from each entry's run) and is keyed by
``(tenant_id, run_id, call_hash)``. Runs gain ``owner_id`` and ``lease_until`` (the
process working on a running run renews its lease; a run whose lease lapsed can be
recovered) and ``error`` (why a failed run failed).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_FILL_JOURNAL_TENANTS = """
UPDATE penguiflow_tool_journal
SET tenant_id = (
    SELECT r.tenant_id FROM penguiflow_runs r WHERE r.run_id = penguiflow_tool_journal.run_id
)
WHERE EXISTS (
    SELECT 1 FROM penguiflow_runs r WHERE r.run_id = penguiflow_tool_journal.run_id
)
"""


def upgrade() -> None:
    """Re-key runs and journal entries by tenant; add owner leases and errors to runs."""
    # Run ids were unique across tenants until now, so each journal entry's run is one row.
    with op.batch_alter_table("penguiflow_tool_journal") as batch:
        batch.add_column(
            sa.Column("tenant_id", sa.String(255), nullable=False, server_default="default")
        )
    op.execute(_FILL_JOURNAL_TENANTS)
    with op.batch_alter_table("penguiflow_tool_journal") as batch:
        batch.alter_column("tenant_id", existing_type=sa.String(255), server_default=None)
        batch.drop_constraint("pk_penguiflow_tool_journal", type_="primary")
        batch.create_primary_key("pk_penguiflow_tool_journal", ["tenant_id", "run_id", "call_hash"])
    with op.batch_alter_table("penguiflow_runs") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Double(), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.drop_constraint("pk_penguiflow_runs", type_="primary")
        batch.create_primary_key("pk_penguiflow_runs", ["tenant_id", "run_id"])
        batch.create_index("ix_penguiflow_runs_status_lease", ["status", "lease_until"])


def downgrade() -> None:
    """Key runs and journal entries by run id again (fails if an id is in two tenants)."""
    with op.batch_alter_table("penguiflow_runs") as batch:
        batch.drop_index("ix_penguiflow_runs_status_lease")
        batch.drop_constraint("pk_penguiflow_runs", type_="primary")
        batch.create_primary_key("pk_penguiflow_runs", ["run_id"])
        batch.drop_column("error")
        batch.drop_column("lease_until")
        batch.drop_column("owner_id")
    with op.batch_alter_table("penguiflow_tool_journal") as batch:
        batch.drop_constraint("pk_penguiflow_tool_journal", type_="primary")
        batch.create_primary_key("pk_penguiflow_tool_journal", ["run_id", "call_hash"])
        batch.drop_column("tenant_id")
