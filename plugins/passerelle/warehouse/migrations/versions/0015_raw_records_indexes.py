"""``raw.records`` keeps one index: its unique version key.

Every window load writes each new version into the table and into each of its indexes, so an index
nobody reads is paid for on every row loaded (a fifth of a 200,000-record full load's insert).
``records_latest_idx`` (source, stream, record_id, cursor_value DESC) repeats the leading columns of
``records_version_key``, which serves the same lookups (the loader's probes, the census of live ids),
and the staging models' latest-version scans read a whole stream, where the planner prefers a
sequential scan and a sort to either index. ``records_load_id_idx`` served no query.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS raw.records_latest_idx")
    op.execute("DROP INDEX IF EXISTS raw.records_load_id_idx")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
