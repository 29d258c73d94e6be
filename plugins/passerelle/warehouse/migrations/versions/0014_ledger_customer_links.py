"""The customers of the books matched to the CRM customers (identity resolution of the books).

Every customer of ``staging.ledger_customers`` (active or not) gets exactly one outcome: a
``staging.ledger_customer_links`` row naming the CRM customer (``staging.customers``) it is, with the method
and confidence of the project identity model (SIREN or VAT number 0.95, normalised legal name 0.80), or a
``staging.ledger_customer_exceptions`` row (ambiguous, conflict, unmapped) with the candidates. Both tables
are rebuilt together by ``include/sql/identity/ledger_customer_identity.sql``.

``passerelle.payments.matching`` reads the link: a payment whose customer is linked to the invoice's customer
pays that customer's invoice, even when the books spell the name another way and hold no identifier.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels = None
depends_on = None

TABLES = [
    Table("staging.ledger_customer_links", "Identity resolution of the books: the CRM customer each customer of the "
                                           "books is, and how (rebuilt with staging.ledger_customer_exceptions).", [
        Column("ledger_customer_key", "text PRIMARY KEY", "Customer of the books (staging.ledger_customers)."),
        Column("customer_key", "text NOT NULL", "CRM customer it is (staging.customers)."),
        Column("method", "text NOT NULL", "Strongest evidence that agrees: siren, vat or name."),
        Column("confidence", "numeric(3,2) NOT NULL", "0.95 for a SIREN or VAT number, 0.80 for the name alone "
                                                      "(the confidences of staging.project_links)."),
        Column("evidence", "text", "What matched (field and value)."),
    ]),
    Table("staging.ledger_customer_exceptions", "Customers of the books not matched to exactly one CRM customer, "
                                                "with the candidates (rebuilt with staging.ledger_customer_links).", [
        Column("ledger_customer_key", "text PRIMARY KEY", "Customer of the books (staging.ledger_customers)."),
        Column("problem", "text NOT NULL", "ambiguous (several CRM customers match equally, e.g. the same company "
                                           "in two CRMs), conflict (the evidence names different customers, or an "
                                           "identifier contradicts the name) or unmapped (nothing matches)."),
        Column("candidates", "jsonb NOT NULL DEFAULT '[]'", "Candidate CRM customers: [{customer_key, legal_name, "
                                                            "method}]."),
        Column("detail", "text NOT NULL", "Why the customer could not be matched, naming the fields and values."),
    ]),
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)
    bind.exec_driver_sql("ALTER TABLE staging.ledger_customer_exceptions ADD CONSTRAINT ledger_customer_exceptions_"
                         "problem_known CHECK (problem IN ('ambiguous', 'conflict', 'unmapped'))")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
