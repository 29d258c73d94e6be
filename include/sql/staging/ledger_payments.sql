{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.ledger_payments and staging.ledger_payment_applications: payments of the books (deleted ones excluded)
-- and what each settles, one row per linked invoice or credit memo of each line. Both are built in one
-- transaction; the validation of staging.ledger_payments quarantines a payment whose applications are not all
-- usable (applications_valid), and matching reads only the applications of the payments left in staging.
-- Incremental (see the macros in macros.sql; params.full_refresh rebuilds everything): a payment a new load
-- touched is deleted and rebuilt with its applications, the others are left alone.
-- One file per accounting system in staging/ledger_payments/<source>.sql.
{% set sources = [
    {'source': 'quickbooks', 'driver': 'payments', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
{{ m.incremental_start('ledger_payments', 'staging.ledger_payments', sources, full) }}
{% if full -%}
DELETE FROM staging.ledger_payment_applications;
{%- else -%}
DELETE FROM staging.ledger_payment_applications AS a
 WHERE a.source_system IN (SELECT source FROM staging_whole)
    OR (a.source_system, a.payment_id) IN (SELECT source, record_id FROM staging_scope);
{%- endif %}

{% include 'staging/ledger_payments/quickbooks.sql' %}

{{ m.incremental_finish('ledger_payments', full) }}
{% if full %}ANALYZE staging.ledger_payments;
ANALYZE staging.ledger_payment_applications;{% endif %}
{{ build.record_horizon('staging.ledger_payments') }}
{{ build.record_horizon('staging.ledger_payment_applications') }}
