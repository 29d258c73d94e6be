{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.customers: Companies and individuals billed, one row per CRM account/company (latest version, deletions removed).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/customers/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'Account', 'reads': []},
    {'source': 'hubspot', 'driver': 'companies', 'reads': []},
    {'source': 'pipedrive', 'driver': 'organizations', 'reads': []},
    {'source': 'zoho_crm', 'driver': 'Accounts', 'reads': []},
    {'source': 'bigin', 'driver': 'Accounts', 'reads': []},
    {'source': 'folk', 'driver': 'companies', 'reads': []},
    {'source': 'dynamics', 'driver': 'accounts', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('customers', 'staging.customers', sources, full) }}

INSERT INTO staging.customers (
    customer_key, source_system, source_id, legal_name, customer_type, siren, siret, vat_number,
    email_domain, phone, billing_street, billing_city, billing_postcode, billing_country_code,
    billing_country_raw, delivery_street, delivery_city, delivery_postcode, delivery_country_code,
    einvoicing_address, industry, source_created_at, source_updated_at
)
SELECT * FROM ({% include 'staging/customers/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/bigin.sql' %}) AS bigin WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/folk.sql' %}) AS folk WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/customers/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[6], full) }};

{{ m.incremental_finish('customers', full) }}
{% if full %}ANALYZE staging.customers;{% endif %}
{{ build.record_horizon('staging.customers') }}
