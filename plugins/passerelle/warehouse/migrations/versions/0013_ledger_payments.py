"""The books (QuickBooks Online) in staging, and payments matched to the invoices Passerelle issued.

Ledger tables hold what the accounting system says: its customers (accounting customers, matched to the
buyers of issued invoices, never billed: invoicing reads ``staging.customers`` only), its invoices and
credit memos, its payments and each payment's applications. They are rebuilt from raw by the SQL models
in ``include/sql/staging/ledger_*.sql`` and validated like every staging table.

``passerelle.payments.matching`` matches each application to an issued invoice by number, customer and
amount. A match is one ``billing.payments`` row carrying its provenance (source, payment, line), unique
on it so that reruns never count a payment twice. Everything else, with its reason, is in
``marts.unmatched_payments``, rebuilt by each matching run.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

MONEY = "numeric(18,2)"
SOURCE = [
    Column("source_system", "text NOT NULL", "Accounting system the row comes from: quickbooks."),
    Column("source_id", "text NOT NULL", "Identifier of the record in its source system (raw.records.record_id)."),
]
UPDATED = Column("source_updated_at", "timestamptz", "Source modification time of the version kept (raw cursor).")

TABLES = [
    Table("staging.ledger_customers", "Customers of the books (accounting customers, active and inactive): matched "
                                      "to the buyers of issued invoices, never billed.", [
        Column("ledger_customer_key", "text NOT NULL", "Warehouse key: '<source_system>:<source_id>'."),
        *SOURCE,
        Column("display_name", "text", "Name in the books (QuickBooks DisplayName, ' (deleted)' removed)."),
        Column("company_name", "text", "Company name, for a business (NULL for a person)."),
        Column("normalised_name", "text", "reference.normalise of the company name, else the display name."),
        Column("siren", "text", "SIREN written in the notes (or the one inside a French VAT number found there), "
                                "when its checksum holds (python-stdnum fr.siren rules)."),
        Column("vat_number", "text", "VAT number written in the notes, when its checksum holds (fr.tva rules)."),
        Column("identifier_problem", "text", "An identifier written in the notes whose checksum fails, as written."),
        Column("is_active", "boolean NOT NULL", "False for a customer made inactive (QuickBooks never deletes one)."),
        UPDATED,
    ]),
    Table("staging.ledger_invoices", "Invoices and credit memos of the books (deleted ones excluded).", [
        Column("ledger_document_key", "text NOT NULL", "Warehouse key: '<source_system>:<source_id>'."),
        *SOURCE,
        Column("document_type", "text NOT NULL", "Invoice or CreditMemo (QuickBooks TxnType)."),
        Column("document_number", "text", "DocNumber: the number Passerelle issued when the bookkeeper kept it."),
        Column("ledger_customer_key", "text", "Customer (staging.ledger_customers)."),
        Column("txn_date", "date", "Date of the document."),
        Column("due_date", "date", "Due date (invoices)."),
        Column("total_amount", MONEY, "Total, VAT included."),
        Column("balance", MONEY, "Still open: unpaid (invoice) or unused credit (credit memo)."),
        Column("currency", "char(3)", "ISO 4217 currency."),
        UPDATED,
    ]),
    Table("staging.ledger_payments", "Payments received, per the books (deleted ones excluded).", [
        Column("ledger_payment_key", "text NOT NULL", "Warehouse key: '<source_system>:<source_id>'."),
        *SOURCE,
        Column("ledger_customer_key", "text", "Customer who paid (staging.ledger_customers)."),
        Column("paid_on", "date", "Day of the payment (TxnDate)."),
        Column("total_amount", MONEY, "Amount received."),
        Column("unapplied_amount", MONEY, "Part applied to no invoice (over-payment, or nothing named)."),
        Column("currency", "char(3)", "ISO 4217 currency."),
        Column("reference", "text", "Bank reference (PaymentRefNum)."),
        Column("note", "text", "The bookkeeper's note (PrivateNote)."),
        Column("applications", "integer NOT NULL", "Rows in staging.ledger_payment_applications."),
        Column("applications_valid", "boolean NOT NULL", "Every application names a document type, an id and an "
                                                         "exact positive amount."),
        UPDATED,
    ]),
    Table("staging.ledger_payment_applications", "What each payment settles: one row per linked invoice or credit "
                                                 "memo of a payment line (rebuilt with staging.ledger_payments).", [
        Column("ledger_payment_key", "text NOT NULL", "Payment (staging.ledger_payments)."),
        Column("source_system", "text NOT NULL", "Accounting system."),
        Column("payment_id", "text NOT NULL", "Payment id in the source."),
        Column("line_number", "integer NOT NULL", "Position of the line in the payment (1, 2...)."),
        Column("link_number", "integer NOT NULL", "Position of the linked document in the line (1, 2...)."),
        Column("linked_type", "text", "Invoice or CreditMemo."),
        Column("linked_id", "text", "Id of the linked document in the source."),
        Column("amount", MONEY, "Amount of the line, NULL when not an exact decimal."),
    ], constraints=("PRIMARY KEY (ledger_payment_key, line_number, link_number)",)),
    Table("marts.unmatched_payments", "Payments of the books, or parts of them, not matched to an issued invoice, "
                                      "with the reason (rebuilt by each matching run; never guessed).", [
        Column("source_system", "text NOT NULL", "Accounting system."),
        Column("payment_id", "text NOT NULL", "Payment id in the source."),
        Column("source_line", "text", "'<line>:<link>' of the application; NULL for the unapplied remainder or a "
                                      "payment as a whole."),
        Column("paid_on", "date", "Day of the payment."),
        Column("amount", MONEY, "Amount not matched."),
        Column("currency", "char(3)", "Currency."),
        Column("customer_name", "text", "Customer in the books."),
        Column("document_number", "text", "Number of the document the books link it to, when any."),
        Column("invoice_number", "text", "Issued invoice considered (same number), when one exists."),
        Column("reason_code", "text NOT NULL", "unknown_document, foreign_number, unknown_number, not_an_invoice, "
                                               "customer_differs, currency_differs, total_differs, exceeds_due, "
                                               "netting_ambiguous, unapplied, deleted_after_212, changed_after_212."),
        Column("reason", "text NOT NULL", "What is wrong, naming the record and field, and what to do."),
        Column("run_id", "text NOT NULL", "Matching run."),
        Column("found_at", "timestamptz NOT NULL DEFAULT now()", "When."),
    ]),
]

PAYMENT_COLUMNS = {
    "source": ("text", "System the payment was matched from (quickbooks); NULL when recorded by hand."),
    "source_payment_id": ("text", "Payment id in that system."),
    "source_line": ("text", "'<line>:<link>' of the payment application matched."),
}


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        for statement in create_statements(table):
            bind.exec_driver_sql(statement)
    for name, (kind, comment) in PAYMENT_COLUMNS.items():
        bind.exec_driver_sql(f"ALTER TABLE billing.payments ADD COLUMN {name} {kind}")
        bind.exec_driver_sql(f"COMMENT ON COLUMN billing.payments.{name} IS {literal(comment)}")
    bind.exec_driver_sql("ALTER TABLE billing.payments ADD CONSTRAINT payments_provenance_complete CHECK "
                         "((source IS NULL) = (source_payment_id IS NULL) AND (source IS NULL) = (source_line IS NULL))")
    bind.exec_driver_sql("CREATE UNIQUE INDEX payments_provenance ON billing.payments (source, source_payment_id, "
                         "source_line) WHERE source IS NOT NULL")
    bind.exec_driver_sql("CREATE INDEX ledger_invoices_number ON staging.ledger_invoices (document_number)")
    bind.exec_driver_sql("GRANT SELECT ON marts.unmatched_payments TO passerelle_bi")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
