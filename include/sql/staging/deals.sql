{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.deals: Opportunities/deals with their customer, amount and stage (latest version, deletions removed).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/deals/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.deals;

INSERT INTO staging.deals (
    deal_key, source_system, source_id, customer_key, name, amount, currency, stage, is_closed,
    is_won, close_date, won_date, owner_person_key, description, project_code, source_created_at,
    source_updated_at
)
{% include 'staging/deals/salesforce.sql' %}
UNION ALL
{% include 'staging/deals/hubspot.sql' %}
UNION ALL
{% include 'staging/deals/pipedrive.sql' %}
UNION ALL
{% include 'staging/deals/zoho_crm.sql' %}
UNION ALL
{% include 'staging/deals/bigin.sql' %}
UNION ALL
{% include 'staging/deals/dynamics.sql' %};

ANALYZE staging.deals;
{{ build.record_horizon('staging.deals') }}
