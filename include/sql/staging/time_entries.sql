{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.time_entries: Time spent: person, day, hours, billable flag (latest version, deletions removed).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/time_entries/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'trello', 'driver': 'cards', 'reads': ['lists', 'custom_fields']},
    {'source': 'asana', 'driver': 'time_entries', 'reads': ['tasks', 'projects']},
    {'source': 'jira', 'driver': 'worklogs', 'reads': ['issues', 'deal_epics']},
    {'source': 'monday', 'driver': none, 'reads': ['time_tracking', 'items', 'groups', 'boards']},
    {'source': 'zoho_projects', 'driver': 'timelogs', 'reads': []},
    {'source': 'project_for_the_web', 'driver': 'msdyn_timeentries', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('time_entries', 'staging.time_entries', sources, full) }}

INSERT INTO staging.time_entries (
    time_entry_key, source_system, source_id, project_key, task_key, person_key, entry_date, hours,
    billable, description, source_updated_at
)
SELECT * FROM ({% include 'staging/time_entries/trello.sql' %}) AS trello WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/time_entries/asana.sql' %}) AS asana WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/time_entries/jira.sql' %}) AS jira WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/time_entries/monday.sql' %}) AS monday WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/time_entries/zoho_projects.sql' %}) AS zoho_projects WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/time_entries/project_for_the_web.sql' %}) AS project_for_the_web WHERE {{ m.runs(sources[5], full) }};

{{ m.incremental_finish('time_entries', full) }}
{% if full %}ANALYZE staging.time_entries;{% endif %}
{{ build.record_horizon('staging.time_entries') }}
