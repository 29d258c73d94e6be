{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.projects: Delivery projects/boards of the project tools (latest version, deletions removed).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/projects/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'trello', 'driver': 'boards', 'reads': ['custom_fields', 'cards']},
    {'source': 'asana', 'driver': 'projects', 'reads': []},
    {'source': 'jira', 'driver': none, 'reads': ['projects', 'deal_epics']},
    {'source': 'monday', 'driver': none, 'reads': ['boards', 'items']},
    {'source': 'zoho_projects', 'driver': 'projects', 'reads': []},
    {'source': 'planner', 'driver': 'plans', 'reads': ['task_details', 'tasks']},
    {'source': 'project_for_the_web', 'driver': 'msdyn_projects', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('projects', 'staging.projects', sources, full) }}

INSERT INTO staging.projects (
    project_key, source_system, source_id, name, description, crm_system, crm_deal_id, status,
    billable, start_date, due_date, source_created_at, source_updated_at
)
SELECT * FROM ({% include 'staging/projects/trello.sql' %}) AS trello WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/asana.sql' %}) AS asana WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/jira.sql' %}) AS jira WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/monday.sql' %}) AS monday WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/zoho_projects.sql' %}) AS zoho_projects WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/planner.sql' %}) AS planner WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/projects/project_for_the_web.sql' %}) AS project_for_the_web WHERE {{ m.runs(sources[6], full) }};

{{ m.incremental_finish('projects', full) }}
{% if full %}ANALYZE staging.projects;{% endif %}
{{ build.record_horizon('staging.projects') }}
