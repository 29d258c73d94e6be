{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.projects: Delivery projects/boards of the project tools (latest version, deletions removed).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/projects/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.projects;

INSERT INTO staging.projects (
    project_key, source_system, source_id, name, description, crm_system, crm_deal_id, status,
    billable, start_date, due_date, source_created_at, source_updated_at
)
{% include 'staging/projects/trello.sql' %}
UNION ALL
{% include 'staging/projects/asana.sql' %}
UNION ALL
{% include 'staging/projects/jira.sql' %}
UNION ALL
{% include 'staging/projects/monday.sql' %}
UNION ALL
{% include 'staging/projects/zoho_projects.sql' %}
UNION ALL
{% include 'staging/projects/planner.sql' %}
UNION ALL
{% include 'staging/projects/project_for_the_web.sql' %};

ANALYZE staging.projects;
{{ build.record_horizon('staging.projects') }}
