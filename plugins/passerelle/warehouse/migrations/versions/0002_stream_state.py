"""Per-stream reader state (sync tokens, reconciliation marks) committed with each window.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit.watermarks ADD COLUMN state jsonb NOT NULL DEFAULT '{}'::jsonb")
    op.execute(
        "COMMENT ON COLUMN audit.watermarks.state IS "
        "'Reader state a source needs between runs (an events sync token, the last full-id reconciliation...), "
        "saved in the same transaction as the window it belongs to.'"
    )


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
