{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.milestones: Project milestones (Asana milestones, Jira versions, Trello/monday milestone lists).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/milestones/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.milestones;

INSERT INTO staging.milestones (
    milestone_key, source_system, source_id, project_key, name, due_date, completed_at, status,
    source_updated_at
)
{% include 'staging/milestones/trello.sql' %}
UNION ALL
{% include 'staging/milestones/asana.sql' %}
UNION ALL
{% include 'staging/milestones/jira.sql' %}
UNION ALL
{% include 'staging/milestones/monday.sql' %}
UNION ALL
{% include 'staging/milestones/zoho_projects.sql' %}
UNION ALL
{% include 'staging/milestones/planner.sql' %}
UNION ALL
{% include 'staging/milestones/project_for_the_web.sql' %};

ANALYZE staging.milestones;
{{ build.record_horizon('staging.milestones') }}
