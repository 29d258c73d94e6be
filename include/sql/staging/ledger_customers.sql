{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.ledger_customers: customers of the books (accounting customers). They are matched to the buyers of
-- issued invoices by SIREN / VAT number, then name, and never billed: invoicing reads staging.customers only.
-- Rebuilt from raw in one transaction. One SELECT per accounting system in staging/ledger_customers/<source>.sql.
DELETE FROM staging.ledger_customers;

INSERT INTO staging.ledger_customers (
    ledger_customer_key, source_system, source_id, display_name, company_name, normalised_name, siren, vat_number,
    identifier_problem, is_active, source_updated_at
)
{% include 'staging/ledger_customers/quickbooks.sql' %};

ANALYZE staging.ledger_customers;
{{ build.record_horizon('staging.ledger_customers') }}
