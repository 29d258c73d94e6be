"""Staging builds record the raw loads they read, so validation compares a table with that raw.

A staging build reads raw in one snapshot (``REPEATABLE READ``) and records, in that snapshot, the newest
load of every raw stream (``audit.load_log``). Validation runs later, as its own task, while extracts go on
loading: its row-count check counts the live raw records as of those loads, not as of the moment it runs,
so a load committed between the build and the check cannot fail a good build.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels = None
depends_on = None

TABLES = [
    Table("audit.staging_horizons", "Per staging table and raw stream, the newest load its last build read.", [
        Column("table_name", "text NOT NULL", "Staging table, e.g. staging.customers."),
        Column("source", "text NOT NULL", "Source system of the raw stream."),
        Column("stream", "text NOT NULL", "Raw stream."),
        Column("load_id", "bigint NOT NULL", "Newest load (audit.load_log.load_id) of the stream the build saw."),
        Column("built_at", "timestamptz NOT NULL DEFAULT now()", "When the build ran."),
    ], constraints=("PRIMARY KEY (table_name, source, stream)",)),
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
