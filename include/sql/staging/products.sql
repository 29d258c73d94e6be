{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.products: Products and services sold (CRM catalogue).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/products/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'Product2', 'reads': []},
    {'source': 'hubspot', 'driver': 'products', 'reads': []},
    {'source': 'pipedrive', 'driver': 'products', 'reads': []},
    {'source': 'zoho_crm', 'driver': 'Products', 'reads': []},
    {'source': 'bigin', 'driver': 'Products', 'reads': []},
    {'source': 'dynamics', 'driver': 'products', 'reads': []},
    {'source': 'quickbooks', 'driver': 'items', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('products', 'staging.products', sources, full) }}

INSERT INTO staging.products (
    product_key, source_system, source_id, name, sku, family, unit, unit_price, vat_rate, is_active,
    source_updated_at
)
SELECT * FROM ({% include 'staging/products/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/bigin.sql' %}) AS bigin WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/products/quickbooks.sql' %}) AS quickbooks WHERE {{ m.runs(sources[6], full) }};

{{ m.incremental_finish('products', full) }}
{% if full %}ANALYZE staging.products;{% endif %}
{{ build.record_horizon('staging.products') }}
