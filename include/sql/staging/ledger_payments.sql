{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.ledger_payments and staging.ledger_payment_applications: payments of the books (deleted ones excluded)
-- and what each settles, one row per linked invoice or credit memo of each line. Both are rebuilt from raw in one
-- transaction; the validation of staging.ledger_payments quarantines a payment whose applications are not all
-- usable (applications_valid), and matching reads only the applications of the payments left in staging.
-- One file per accounting system in staging/ledger_payments/<source>.sql.
DELETE FROM staging.ledger_payment_applications;
DELETE FROM staging.ledger_payments;

{% include 'staging/ledger_payments/quickbooks.sql' %}

ANALYZE staging.ledger_payments;
ANALYZE staging.ledger_payment_applications;
{{ build.record_horizon('staging.ledger_payments') }}
{{ build.record_horizon('staging.ledger_payment_applications') }}
