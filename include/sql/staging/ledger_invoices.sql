{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.ledger_invoices: invoices and credit memos of the books, deleted ones excluded (a CDC tombstone is the
-- latest version). DocNumber carries the number Passerelle issued when the bookkeeper kept it.
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/ledger_invoices/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'quickbooks', 'driver': none, 'reads': ['invoices', 'credit_memos']},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
{{ m.incremental_start('ledger_invoices', 'staging.ledger_invoices', sources, full) }}

INSERT INTO staging.ledger_invoices (
    ledger_document_key, source_system, source_id, document_type, document_number, ledger_customer_key, txn_date,
    due_date, total_amount, balance, currency, source_updated_at
)
SELECT * FROM ({% include 'staging/ledger_invoices/quickbooks.sql' %}) AS quickbooks WHERE {{ m.runs(sources[0], full) }};

{{ m.incremental_finish('ledger_invoices', full) }}
{% if full %}ANALYZE staging.ledger_invoices;{% endif %}
{{ build.record_horizon('staging.ledger_invoices') }}
