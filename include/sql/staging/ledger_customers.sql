{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.ledger_customers: customers of the books (accounting customers). They are matched to the buyers of
-- issued invoices by SIREN / VAT number, then name, and never billed: invoicing reads staging.customers only.
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/ledger_customers/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'quickbooks', 'driver': 'customers', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
{{ m.incremental_start('ledger_customers', 'staging.ledger_customers', sources, full) }}

INSERT INTO staging.ledger_customers (
    ledger_customer_key, source_system, source_id, display_name, company_name, normalised_name, siren, vat_number,
    identifier_problem, is_active, source_updated_at
)
SELECT * FROM ({% include 'staging/ledger_customers/quickbooks.sql' %}) AS quickbooks WHERE {{ m.runs(sources[0], full) }};

{{ m.incremental_finish('ledger_customers', full) }}
{% if full %}ANALYZE staging.ledger_customers;{% endif %}
{{ build.record_horizon('staging.ledger_customers') }}
