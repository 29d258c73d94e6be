"""Two-way field state: per link and mapped field, what both sides agreed on at the last sync.

``sync.link_fields`` is the value ledger of the two-way flows. Its ``synced_hash`` is the hash of the value
both sides held after the last sync (read back or written), so a value read back that equals what the sync
wrote is not a change: no echo, no ping-pong. Each side's modification stamp and modifier at that moment
are kept beside it, for last-writer-wins and for a person reading a conflict. ``parked_hash`` is a value a
vendor refused (or a rule forbade, such as a date outside a strict project's plan): it is reported once and
not tried again until the value changes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels = None
depends_on = None

TABLES = [
    Table("sync.link_fields", "Per link and mapped field, the value both sides held after the last sync (the "
                              "ledger that tells a change from the echo of the sync's own write).", [
        Column("link_id", "bigint NOT NULL REFERENCES sync.links", "Link (a CRM object paired with a project-tool "
                                                                   "object)."),
        Column("field", "text NOT NULL", "Mapped field (title, description, end_date, priority, status, owner)."),
        Column("synced_hash", "text", "Hash of the value both sides held after the last sync; NULL before the first."),
        Column("synced_value", "jsonb", "That value, in the flow's common form (what a person reads)."),
        Column("crm_modified_at", "timestamptz", "The CRM record's modification time read at that sync."),
        Column("crm_modified_by", "text", "Who modified the CRM record last, where the CRM says."),
        Column("pm_modified_at", "timestamptz", "The project-tool record's modification time read at that sync."),
        Column("pm_modified_by", "text", "Who modified the project-tool record last, where the tool says."),
        Column("parked_hash", "text", "Hash of a value refused by a vendor or a rule: not written again until it "
                                      "changes."),
        Column("parked_reason", "text", "Why it was refused (the vendor's message or the rule)."),
        Column("run_id", "text NOT NULL", "Airflow run that last recorded the field."),
        Column("synced_at", "timestamptz NOT NULL DEFAULT now()", "When it was recorded."),
    ], constraints=("PRIMARY KEY (link_id, field)",)),
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
