{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.products: Products and services sold (CRM catalogue).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/products/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.products;

INSERT INTO staging.products (
    product_key, source_system, source_id, name, sku, family, unit, unit_price, vat_rate, is_active,
    source_updated_at
)
{% include 'staging/products/salesforce.sql' %}
UNION ALL
{% include 'staging/products/hubspot.sql' %}
UNION ALL
{% include 'staging/products/pipedrive.sql' %}
UNION ALL
{% include 'staging/products/zoho_crm.sql' %}
UNION ALL
{% include 'staging/products/bigin.sql' %}
UNION ALL
{% include 'staging/products/dynamics.sql' %}
UNION ALL
{% include 'staging/products/quickbooks.sql' %};

ANALYZE staging.products;
{{ build.record_horizon('staging.products') }}
