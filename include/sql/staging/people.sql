{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.people: Internal people: CRM users/owners and project-tool members (latest version).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/people/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'User', 'reads': []},
    {'source': 'hubspot', 'driver': 'owners', 'reads': []},
    {'source': 'pipedrive', 'driver': 'users', 'reads': []},
    {'source': 'zoho_crm', 'driver': 'users', 'reads': []},
    {'source': 'bigin', 'driver': 'users', 'reads': []},
    {'source': 'folk', 'driver': 'users', 'reads': []},
    {'source': 'dynamics', 'driver': 'systemusers', 'reads': []},
    {'source': 'trello', 'driver': 'members', 'reads': []},
    {'source': 'asana', 'driver': 'users', 'reads': []},
    {'source': 'jira', 'driver': 'users', 'reads': []},
    {'source': 'monday', 'driver': 'users', 'reads': []},
    {'source': 'zoho_projects', 'driver': 'users', 'reads': []},
    {'source': 'planner', 'driver': 'users', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('people', 'staging.people', sources, full) }}

INSERT INTO staging.people (
    person_key, source_system, source_id, full_name, email, is_active, source_updated_at
)
SELECT * FROM ({% include 'staging/people/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/bigin.sql' %}) AS bigin WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/folk.sql' %}) AS folk WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[6], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/trello.sql' %}) AS trello WHERE {{ m.runs(sources[7], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/asana.sql' %}) AS asana WHERE {{ m.runs(sources[8], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/jira.sql' %}) AS jira WHERE {{ m.runs(sources[9], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/monday.sql' %}) AS monday WHERE {{ m.runs(sources[10], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/zoho_projects.sql' %}) AS zoho_projects WHERE {{ m.runs(sources[11], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/people/planner.sql' %}) AS planner WHERE {{ m.runs(sources[12], full) }};

{{ m.incremental_finish('people', full) }}
{% if full %}ANALYZE staging.people;{% endif %}
{{ build.record_horizon('staging.people') }}
