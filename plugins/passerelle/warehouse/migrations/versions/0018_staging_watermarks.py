"""Incremental staging models: per model and raw stream, the last load it has processed.

A staging model built incrementally (``include/sql/staging/tasks.sql``, ``time_entries.sql``) rebuilds
only the rows of the records that loads after its watermark brought, then moves the watermark to the
newest load it read. Loads of one stream are serialised by the loader (its watermark row is locked
before the load id is drawn), so a stream's load ids become visible in order and a per-stream
watermark never skips a load that commits late.

``raw.records`` gets a BRIN index on ``load_id``: the table is append-only, so load ids follow the
physical order and a few hundred bytes of block ranges find a load's rows without the write cost of a
B-tree (the reason 0015 dropped ``records_load_id_idx``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels = None
depends_on = None

TABLES = [
    Table("audit.staging_watermarks", "Per incremental staging model and raw stream it reads, the last load processed.", [
        Column("model", "text NOT NULL", "Staging model (passerelle.transform.models), e.g. time_entries."),
        Column("source", "text NOT NULL", "Source system of the raw stream."),
        Column("stream", "text NOT NULL", "Raw stream the model reads."),
        Column("last_load_id", "bigint NOT NULL DEFAULT 0",
               "Newest load (audit.load_log.load_id) of the stream whose records the model has processed; 0: none."),
        Column("refreshed_at", "timestamptz", "When the model last moved this watermark."),
        Column("mode", "text", "How the model last ran: full (rebuilt from all of raw) or incremental."),
    ], constraints=("PRIMARY KEY (model, source, stream)",)),
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)
    bind.exec_driver_sql("CREATE INDEX records_load_id_brin ON raw.records USING brin (load_id)")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
