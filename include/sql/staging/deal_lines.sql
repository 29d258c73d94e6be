{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.deal_lines: Deal line items: product, quantity, unit price, discount, VAT rate.
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/deal_lines/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'OpportunityLineItem', 'reads': []},
    {'source': 'hubspot', 'driver': 'line_items', 'reads': ['deals']},
    {'source': 'pipedrive', 'driver': 'deal_products', 'reads': ['deals']},
    {'source': 'zoho_crm', 'driver': none, 'reads': ['Quotes', 'Deals']},
    {'source': 'dynamics', 'driver': 'opportunityproducts', 'reads': ['products']},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('deal_lines', 'staging.deal_lines', sources, full) }}

INSERT INTO staging.deal_lines (
    deal_line_key, source_system, source_id, deal_key, product_key, name, description, quantity,
    unit_price, discount_percent, line_amount, vat_rate, service_date, source_updated_at
)
SELECT * FROM ({% include 'staging/deal_lines/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deal_lines/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deal_lines/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deal_lines/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deal_lines/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[4], full) }};

{{ m.incremental_finish('deal_lines', full) }}
{% if full %}ANALYZE staging.deal_lines;{% endif %}
{{ build.record_horizon('staging.deal_lines') }}
