{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.deals: Opportunities/deals with their customer, amount and stage (latest version, deletions removed).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/deals/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'Opportunity', 'reads': []},
    {'source': 'hubspot', 'driver': 'deals', 'reads': ['deal_pipelines']},
    {'source': 'pipedrive', 'driver': 'deals', 'reads': []},
    {'source': 'zoho_crm', 'driver': 'Deals', 'reads': []},
    {'source': 'bigin', 'driver': 'Pipelines', 'reads': []},
    {'source': 'dynamics', 'driver': 'opportunities', 'reads': ['transactioncurrencies']},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('deals', 'staging.deals', sources, full) }}

INSERT INTO staging.deals (
    deal_key, source_system, source_id, customer_key, name, amount, currency, stage, is_closed,
    is_won, close_date, won_date, owner_person_key, description, project_code, source_created_at,
    source_updated_at
)
SELECT * FROM ({% include 'staging/deals/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deals/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deals/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deals/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deals/bigin.sql' %}) AS bigin WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/deals/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[5], full) }};

{{ m.incremental_finish('deals', full) }}
{% if full %}ANALYZE staging.deals;{% endif %}
{{ build.record_horizon('staging.deals') }}
