{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.milestones: Project milestones (Asana milestones, Jira versions, Trello/monday milestone lists).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/milestones/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'trello', 'driver': 'cards', 'reads': ['lists', 'actions']},
    {'source': 'asana', 'driver': 'tasks', 'reads': []},
    {'source': 'jira', 'driver': 'versions', 'reads': []},
    {'source': 'monday', 'driver': none, 'reads': ['items', 'groups', 'boards']},
    {'source': 'zoho_projects', 'driver': 'milestones', 'reads': []},
    {'source': 'planner', 'driver': 'tasks', 'reads': ['buckets']},
    {'source': 'project_for_the_web', 'driver': 'msdyn_projecttasks', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('milestones', 'staging.milestones', sources, full) }}

INSERT INTO staging.milestones (
    milestone_key, source_system, source_id, project_key, name, due_date, completed_at, status,
    source_updated_at
)
SELECT * FROM ({% include 'staging/milestones/trello.sql' %}) AS trello WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/asana.sql' %}) AS asana WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/jira.sql' %}) AS jira WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/monday.sql' %}) AS monday WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/zoho_projects.sql' %}) AS zoho_projects WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/planner.sql' %}) AS planner WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/milestones/project_for_the_web.sql' %}) AS project_for_the_web WHERE {{ m.runs(sources[6], full) }};

{{ m.incremental_finish('milestones', full) }}
{% if full %}ANALYZE staging.milestones;{% endif %}
{{ build.record_horizon('staging.milestones') }}
