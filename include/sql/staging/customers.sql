{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.customers: Companies and individuals billed, one row per CRM account/company (latest version, deletions removed).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/customers/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.customers;

INSERT INTO staging.customers (
    customer_key, source_system, source_id, legal_name, customer_type, siren, siret, vat_number,
    email_domain, phone, billing_street, billing_city, billing_postcode, billing_country_code,
    billing_country_raw, delivery_street, delivery_city, delivery_postcode, delivery_country_code,
    einvoicing_address, industry, source_created_at, source_updated_at
)
{% include 'staging/customers/salesforce.sql' %}
UNION ALL
{% include 'staging/customers/hubspot.sql' %}
UNION ALL
{% include 'staging/customers/pipedrive.sql' %}
UNION ALL
{% include 'staging/customers/zoho_crm.sql' %}
UNION ALL
{% include 'staging/customers/bigin.sql' %}
UNION ALL
{% include 'staging/customers/folk.sql' %}
UNION ALL
{% include 'staging/customers/dynamics.sql' %};

ANALYZE staging.customers;
{{ build.record_horizon('staging.customers') }}
