"""The issued invoice stored whole: every business term the documents carry has its own column or table.

Credit notes and re-rendered documents are built from ``marts.invoices`` and its child tables, so what was
issued must come back unchanged: the references (BT-10..13, BT-83), the delivery party name (BT-70), the
parties' trading names, contact e-mails and the seller's electronic address scheme, the line notes
(BT-127) and order, every preceding invoice (BG-3, not only the first) and allowance amounts as stated.
Rows written before this revision get the line order and preceding invoice they already implied.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

NEW_COLUMNS: dict[str, list[Column]] = {
    "marts.invoices": [
        Column("buyer_reference", "text", "BT-10: the buyer's reference (service code or routing reference)."),
        Column("project_reference", "text", "BT-11: project reference."),
        Column("contract_reference", "text", "BT-12: contract reference."),
        Column("purchase_order", "text", "BT-13: purchase order reference."),
        Column("payment_reference", "text", "BT-83: remittance information the buyer quotes when paying."),
        Column("delivery_name", "text", "BT-70: name of the deliver-to party (BG-13); NULL means the buyer."),
        Column("seller_trading_name", "text", "BT-28: seller trading name."),
        Column("seller_email", "text", "BT-43: seller contact e-mail."),
        Column("seller_electronic_scheme", "text", "BT-34 scheme: 0225 (French directory) or EM (e-mail)."),
        Column("buyer_trading_name", "text", "BT-45: buyer trading name."),
        Column("buyer_email", "text", "BT-58: buyer contact e-mail."),
    ],
    "marts.invoice_lines": [
        Column("note", "text", "BT-127: invoice line note."),
        Column("position", "integer", "Order of the line in the document, from 1."),
    ],
    "marts.invoice_allowances_charges": [
        Column("amount_given", "numeric",
               "Amount as stated on the invoice record, scale kept; differs from amount only where amount is "
               "computed from base_amount and percent."),
    ],
}

PRECEDING = Table(
    "marts.invoice_preceding_invoices",
    "Preceding invoices (BG-3) a credit note or corrective invoice refers to, in document order.",
    [
        Column("invoice_number", "text NOT NULL REFERENCES marts.invoices ON DELETE CASCADE",
               "BT-1 of the referring invoice or credit note."),
        Column("position", "integer NOT NULL", "Order in the document, from 1."),
        Column("preceding_number", "text NOT NULL", "BT-25 (may predate the warehouse, so not a foreign key)."),
        Column("preceding_issue_date", "date NOT NULL", "BT-26."),
    ],
    constraints=("PRIMARY KEY (invoice_number, position)",),
)

BACKFILL = [
    """UPDATE marts.invoice_lines AS l SET position = o.position
         FROM (SELECT invoice_number, line_id,
                      row_number() OVER (PARTITION BY invoice_number ORDER BY length(line_id), line_id) AS position
                 FROM marts.invoice_lines) AS o
        WHERE o.invoice_number = l.invoice_number AND o.line_id = l.line_id""",
    """UPDATE marts.invoice_allowances_charges SET amount_given = amount""",
    """UPDATE marts.invoices SET seller_electronic_scheme = '0225' WHERE seller_electronic_address IS NOT NULL""",
    """INSERT INTO marts.invoice_preceding_invoices (invoice_number, position, preceding_number, preceding_issue_date)
       SELECT invoice_number, 1, preceding_number, preceding_issue_date FROM marts.invoices
        WHERE preceding_number IS NOT NULL AND preceding_issue_date IS NOT NULL""",
]


def upgrade() -> None:
    bind = op.get_bind()
    statements: list[str] = []
    for table, columns in NEW_COLUMNS.items():
        for column in columns:
            statements += [f"ALTER TABLE {table} ADD COLUMN {column.name} {column.type}",
                           f"COMMENT ON COLUMN {table}.{column.name} IS {literal(column.comment)}"]
    statements += create_statements(PRECEDING)
    statements += BACKFILL
    statements += [
        "CREATE INDEX invoice_preceding_number ON marts.invoice_preceding_invoices (preceding_number)",
        "GRANT SELECT ON marts.invoice_preceding_invoices TO passerelle_bi",
    ]
    for statement in statements:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
