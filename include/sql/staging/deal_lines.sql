{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.deal_lines: Deal line items: product, quantity, unit price, discount, VAT rate.
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/deal_lines/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.deal_lines;

INSERT INTO staging.deal_lines (
    deal_line_key, source_system, source_id, deal_key, product_key, name, description, quantity,
    unit_price, discount_percent, line_amount, vat_rate, service_date, source_updated_at
)
{% include 'staging/deal_lines/salesforce.sql' %}
UNION ALL
{% include 'staging/deal_lines/hubspot.sql' %}
UNION ALL
{% include 'staging/deal_lines/pipedrive.sql' %}
UNION ALL
{% include 'staging/deal_lines/zoho_crm.sql' %}
UNION ALL
{% include 'staging/deal_lines/dynamics.sql' %};

ANALYZE staging.deal_lines;
{{ build.record_horizon('staging.deal_lines') }}
