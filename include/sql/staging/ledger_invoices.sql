{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.ledger_invoices: invoices and credit memos of the books, deleted ones excluded (a CDC tombstone is the
-- latest version). DocNumber carries the number Passerelle issued when the bookkeeper kept it.
-- Rebuilt from raw in one transaction. One SELECT per accounting system in staging/ledger_invoices/<source>.sql.
DELETE FROM staging.ledger_invoices;

INSERT INTO staging.ledger_invoices (
    ledger_document_key, source_system, source_id, document_type, document_number, ledger_customer_key, txn_date,
    due_date, total_amount, balance, currency, source_updated_at
)
{% include 'staging/ledger_invoices/quickbooks.sql' %};

ANALYZE staging.ledger_invoices;
{{ build.record_horizon('staging.ledger_invoices') }}
