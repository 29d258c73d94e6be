"""Invoice numbers: one gap-free, chronological sequence per seller and year, assigned once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

TABLES = [
    Table("audit.invoice_counters", "Last invoice number used per seller and year; locked by the issuing transaction.", [
        Column("seller_siren", "text NOT NULL", "SIREN of the issuing company."),
        Column("fiscal_year", "integer NOT NULL", "Year of the issue date; numbers restart at 1 each year."),
        Column("last_sequence", "integer NOT NULL DEFAULT 0", "Sequence of the last number issued (0: none yet)."),
        Column("last_issue_date", "date", "Issue date of the last number issued: a new one may not be earlier."),
    ], constraints=("PRIMARY KEY (seller_siren, fiscal_year)",)),
    Table("marts.invoice_numbers", "Every invoice number ever issued (BT-1): never reassigned, never renumbered.", [
        Column("invoice_number", "text PRIMARY KEY", "BT-1: '<prefix><year>-<6-digit sequence>', at most 20 characters."),
        Column("seller_siren", "text NOT NULL", "SIREN of the issuing company."),
        Column("fiscal_year", "integer NOT NULL", "Year of the issue date."),
        Column("sequence", "integer NOT NULL", "Position in the seller's sequence for the year (1, 2, 3... without gaps)."),
        Column("issue_date", "date NOT NULL", "BT-2, issue date."),
        Column("invoice_key", "text NOT NULL UNIQUE", "What was invoiced (the billing document's identity): a retry or backfill "
                                                      "asking again for the same key gets the same number."),
        Column("assigned_at", "timestamptz NOT NULL DEFAULT now()", "When the number was assigned."),
        Column("run_id", "text NOT NULL", "Run that issued it."),
    ], constraints=("UNIQUE (seller_siren, fiscal_year, sequence)",)),
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
